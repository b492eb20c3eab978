"""``load_config``: read the file, track lines, resolve secrets, validate, gather every problem."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from bridge.config.cross_checks import check_participants_raw
from bridge.config.problems import (
    ROOT_PATH,
    ConfigError,
    ConfigProblem,
    join_path,
    line_for,
    problems_from_validation,
)
from bridge.config.root import BridgeConfig
from bridge.config.secrets import ENV_NAME_RE, UNSET_PLACEHOLDER
from bridge.config.semantic_warnings import semantic_warnings
from bridge.config.yaml_reader import YamlReader


def _env_references(data: Any, path: str = "") -> list[tuple[str, str]]:
    """Every ``*_env`` key of the raw config: (key path, variable name)."""
    found: list[tuple[str, str]] = []
    if isinstance(data, dict):
        for key, value in data.items():
            child = join_path(path, key)
            if str(key).endswith("_env") and isinstance(value, str):
                found.append((child, value))
            else:
                found += _env_references(value, child)
    elif isinstance(data, list):
        for index, item in enumerate(data):
            found += _env_references(item, f"{path}[{index}]")
    return found


#: Stand for an unset variable while the rest is validated (they pass every value rule).
_UNSET_URL_PLACEHOLDER = "postgresql://unset@localhost/unset"


def load_config(
    path: str | Path,
    *,
    environ: Mapping[str, str] | None = None,
    require_env: bool = True,
) -> BridgeConfig:
    """Read, validate and resolve the configuration; raise :class:`ConfigError` listing all.

    ``environ`` (default ``os.environ``) is where ``*_env`` secrets are looked up. With
    ``require_env=False`` (check-config) an unset variable is a warning, not an error: the shell
    of the admin checking a file rarely has the service's environment (systemd EnvironmentFile,
    credentials), while ``run`` needs every secret.
    """
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except IsADirectoryError:
        raise ConfigError(
            [ConfigProblem(file, 1, ROOT_PATH, "is a directory, not a configuration file")]
        ) from None
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ConfigError(
            [ConfigProblem(file, 1, ROOT_PATH, f"cannot read the configuration file: {reason}")]
        ) from None
    except UnicodeDecodeError:
        raise ConfigError(
            [ConfigProblem(file, 1, ROOT_PATH, "the configuration file is not UTF-8 text")]
        ) from None

    reader = YamlReader(file, text)
    data = reader.read()
    problems = list(reader.problems)
    warnings: list[ConfigProblem] = []
    if data is None:
        raise ConfigError(problems)

    if isinstance(data, dict):
        more_problems, more_warnings = check_participants_raw(data, file, reader.lines)
        problems += more_problems
        warnings += more_warnings

    env = dict(os.environ if environ is None else environ)
    for key_path, name in _env_references(data):
        if name in env or not ENV_NAME_RE.match(name):
            continue
        unset = ConfigProblem(
            file,
            line_for(reader.lines, key_path),
            key_path,
            f"environment variable {name} is not set",
        )
        if require_env:
            problems.append(unset)
        else:
            warnings.append(
                dataclasses.replace(
                    unset, message=f"warning: {unset.message} here; `spico-bridge run` needs it"
                )
            )
        env[name] = _UNSET_URL_PLACEHOLDER if key_path.endswith("url_env") else UNSET_PLACEHOLDER
    config: BridgeConfig | None = None
    try:
        config = BridgeConfig.model_validate(data, context={"environ": env})
    except ValidationError as exc:
        problems += problems_from_validation(exc, file, reader.lines, BridgeConfig)
    if problems or config is None:
        raise ConfigError(problems, warnings)

    warnings += semantic_warnings(config, file, reader.lines)
    config._warnings = tuple(sorted(warnings, key=lambda p: (p.line, p.path)))
    config._source = file
    return config
