"""The demo's configuration: the base config (config/spico-bridge.local.yaml) moved to the
state folder and ports, and the secrets it refers to, generated once."""

from __future__ import annotations

import secrets
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

CONFIG_NAME = "spico-bridge.demo.yaml"
#: Secret files config/spico-bridge.local.yaml refers to, created once with random values.
SECRET_FILES = (
    "spico-token",
    "matrix-as-token",
    "matrix-hs-token",
    "mail-password",
    "mail-token-key",
)


def ensure_secrets(state_dir: Path) -> Path:
    folder = state_dir / "secrets"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    for name in SECRET_FILES:
        stable_secret(folder / name, 48)
    return folder


def stable_secret(path: Path, size: int = 18) -> str:
    """A random secret kept across demo runs (users keep their passwords)."""
    if not path.exists():
        path.write_text(secrets.token_urlsafe(size) + "\n", encoding="utf-8")
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip()


def demo_config(base: dict[str, Any], state_dir: Path, ports: Mapping[str, int]) -> dict[str, Any]:
    """The base config (config/spico-bridge.local.yaml) moved to ``state_dir`` and ``ports``:
    every path under the base's ``state_dir`` now lives under ours; every URL and port of the
    demo's servers follows ``ports``."""
    base_state = str(base.get("state_dir") or ".state").rstrip("/")

    def move(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: move(item) for key, item in value.items()}
        if isinstance(value, list):
            return [move(item) for item in value]
        if isinstance(value, str):
            if value.rstrip("/") == base_state:
                return str(state_dir)
            if value.startswith(base_state + "/"):
                return str(state_dir / value[len(base_state) + 1 :])
        return value

    data: dict[str, Any] = move(base)
    data["state_dir"] = str(state_dir)
    spico = data.setdefault("spico", {})
    spico["base_url"] = f"http://127.0.0.1:{ports['sandbox']}/api/v1"
    spico["web_url"] = f"http://127.0.0.1:{ports['sandbox']}"
    if isinstance(data.get("matrix"), dict):
        data["matrix"]["homeserver"] = f"http://127.0.0.1:{ports['synapse']}"
        if isinstance(data["matrix"].get("appservice"), dict):
            data["matrix"]["appservice"]["listen_port"] = ports["appservice"]
    mail = data.get("mail")
    if isinstance(mail, dict):
        for key in ("smtp", "imap"):
            if isinstance(mail.get(key), dict):
                mail[key]["host"] = "127.0.0.1"
        if isinstance(mail.get("smtp"), dict):
            mail["smtp"]["port"] = ports["submission"]
        if isinstance(mail.get("imap"), dict):
            tls = mail["imap"].get("security") == "tls"
            mail["imap"]["port"] = ports["imaps" if tls else "imap"]
    data.setdefault("http", {})
    data["http"]["listen_host"] = "127.0.0.1"
    data["http"]["listen_port"] = ports["http"]
    return data


def write_yaml(path: Path, data: dict[str, Any]) -> None:
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")


def enabled(data: dict[str, Any], section: str) -> bool:
    value = data.get(section)
    return isinstance(value, dict) and value.get("enabled", True) is not False


def disable(data: dict[str, Any], section: str, why: str) -> None:
    """Leave a world out of the demo's config, saying why (and what sent only through it)."""
    print(f"demo: leaving {section} out: {why}", file=sys.stderr, flush=True)
    data[section] = {"enabled": False}
    if section == "mail" and isinstance(data.get("notifications"), dict):
        data["notifications"]["enabled"] = False  # sent by mail
