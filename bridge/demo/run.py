"""``spico-bridge demo``: start the worlds, then the bridge, until Ctrl-C; stop everything it
started."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from bridge.demo.leftovers import stop_leftovers
from bridge.demo.ports import (
    DEFAULT_PORTS,
    MAIL_PORT_NAMES,
    choose_ports,
    parse_port_overrides,
    ports_in_use,
)
from bridge.demo.settings import (
    CONFIG_NAME,
    demo_config,
    disable,
    enabled,
    ensure_secrets,
    write_yaml,
)
from bridge.demo.state import Demo, DemoError, read_info, running_demo, write_info
from bridge.demo.texts import banner, link_sample_of, sample_of, try_it
from bridge.demo.worlds import (
    DEMO_CONVERSATIONS,
    SandboxView,
    left_out,
    start_mail,
    start_matrix,
)
from bridge.launch import ServerStartFailed
from bridge.spico.sandbox.process import SandboxProcess

READY_TIMEOUT = 180.0


def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``spico-bridge demo`` (``scripts/demo`` passes its arguments)."""
    parser.add_argument(
        "--state-dir", default=".state", help="where everything is kept (default: %(default)s)"
    )
    parser.add_argument(
        "--config",
        default="config/spico-bridge.local.yaml",
        help="the base config, moved to the state folder and ports (default: %(default)s)",
    )
    parser.add_argument(
        "--ports",
        choices=["fixed", "auto"],
        default="fixed",
        help="fixed: "
        + ", ".join(f"{name} {port}" for name, port in DEFAULT_PORTS.items())
        + "; auto: free loopback ports picked at start (default: %(default)s)",
    )
    parser.add_argument(
        "--port",
        action="append",
        metavar="NAME=PORT",
        help="one service's port (repeatable), e.g. --port sandbox=18089; names: "
        + ", ".join(DEFAULT_PORTS),
    )


def demo_command(args: argparse.Namespace) -> int:
    try:
        ports = choose_ports(args.ports, parse_port_overrides(args.port))
    except DemoError as error:
        print(f"demo: {error}", file=sys.stderr, flush=True)
        return 2
    return run_demo(Path(args.state_dir), config_path=Path(args.config), ports=ports)


def run_demo(
    state_dir: Path,
    *,
    config_path: Path,
    ports: Mapping[str, int] | None = None,
) -> int:
    """The ``spico-bridge demo`` command: start everything, run the bridge until Ctrl-C."""
    state_dir = state_dir.absolute()
    try:
        ports = dict(ports or choose_ports())
        return _run(Demo(state_dir, ports), config_path)
    except DemoError as error:
        print(f"demo: {error}", file=sys.stderr, flush=True)
        return 2


def _run(demo: Demo, config_path: Path) -> int:
    from bridge.config import ConfigError, load_config

    state_dir = demo.state_dir
    # Private: secrets, databases, logs. The mail servers' users never open it (their state is
    # in a runtime folder of its own: start_mail).
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    previous_run = read_info(state_dir)
    other = running_demo(previous_run)
    if other is not None:
        raise DemoError(
            f"a demo already runs with the state folder {state_dir} (PID {other}): stop it "
            f"first (Ctrl-C in its terminal, or kill -INT {other}), or use another --state-dir"
        )
    secret_folder = ensure_secrets(state_dir)
    try:
        base = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise DemoError(f"cannot read {config_path}: {error}") from None
    data = demo_config(base, state_dir, demo.ports)
    overlay = state_dir / CONFIG_NAME
    write_yaml(overlay, data)
    try:
        load_config(overlay)  # checked before anything starts
    except ConfigError as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        return 2
    # What cannot run here is said now, before anything starts; the rest runs.
    demo.left_out = left_out(data)
    for section, why in demo.left_out.items():
        disable(data, section, why)
    stop_leftovers(previous_run, state_dir)  # before the ports check: they may hold them
    wanted = {"sandbox", "http"}
    if enabled(data, "matrix"):
        wanted.update(("synapse", "appservice"))
    if enabled(data, "mail"):
        wanted.update(MAIL_PORT_NAMES)
    busy = ports_in_use({name: demo.ports[name] for name in sorted(wanted)})
    if busy:
        raise DemoError(
            f"port(s) already in use on 127.0.0.1: {', '.join(busy)} (another demo running?); "
            "`spico-bridge demo --ports auto` picks free ones"
        )
    stopping = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {signum: signal.getsignal(signum) for signum in stopping}
    # While servers start, SIGTERM and SIGHUP (the terminal closed) stop the demo as Ctrl-C
    # does, stopping what it started; then the bridge handles all three the same way.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    try:
        with demo.cleanups:
            try:
                return _start_and_serve(demo, data, overlay, secret_folder)
            finally:
                # Stopping takes a few seconds: a second Ctrl-C must not leave servers behind.
                for signum in stopping:
                    signal.signal(signum, signal.SIG_IGN)
                print("demo: stopping everything it started…", file=sys.stderr, flush=True)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def linked(users: dict[str, str], link: dict[str, Any] | None) -> dict[str, str]:
    """The demo's Matrix users mapped in the config (all but the self-service sample)."""
    return {u: m for u, m in users.items() if link is None or u != link["matrix_user"]}


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _start_and_serve(demo: Demo, data: dict[str, Any], overlay: Path, secret_folder: Path) -> int:
    from bridge.app import configure_logging, serve
    from bridge.config import ConfigError, load_config

    state_dir, ports = demo.state_dir, demo.ports
    token_file = secret_folder / "spico-token"
    sandbox = SandboxProcess(
        state_dir,
        token_file=token_file,
        port=ports["sandbox"],
        extra_args=["--demo-conversations", str(DEMO_CONVERSATIONS)],
        start_timeout=60,
    )
    demo.on_stop(sandbox.stop)  # before start: a Ctrl-C while it starts stops it too
    try:
        sandbox.start()
    except ServerStartFailed as error:
        raise DemoError(str(error)) from None
    demo.pids["sandbox"] = sandbox.pid
    view = SandboxView(
        f"http://127.0.0.1:{ports['sandbox']}/api/v1",
        token_file.read_text(encoding="utf-8").strip(),
    )
    view.load()
    participants: dict[str, dict[str, Any]] = {
        str(p["spico_id"]): dict(p) for p in data.get("participants") or []
    }
    users: dict[str, str] = {}
    if enabled(data, "matrix"):
        users = start_matrix(demo, data, secret_folder, view.members)
    mailboxes: dict[str, str] = {}
    if enabled(data, "mail"):
        mailboxes = start_mail(demo, data, secret_folder, view.addresses)
    # One member is left unmapped, to try self-service (``lier``): named in demo.json.
    link = link_sample_of(view, users, mailboxes) if users and mailboxes else None
    if link is not None:
        data["matrix"].setdefault("self_service", {"enabled": True})
    for user, member in users.items():
        if link is None or member != link["member"]:
            participants.setdefault(member, {"spico_id": member})["matrix_user"] = user
    for member, address in mailboxes.items():
        if link is None or member != link["member"]:
            participants.setdefault(member, {"spico_id": member})["mail"] = address
    for entry in participants.values():
        if "delivery" not in entry and entry.get("matrix_user") and entry.get("mail"):
            entry["delivery"] = "both"  # demo members follow in both worlds
        elif "delivery" not in entry and entry.get("mail"):
            entry["delivery"] = "mail"
    data["participants"] = list(participants.values())
    write_yaml(overlay, data)
    try:
        config = load_config(overlay)
    except ConfigError as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        return 2
    demo.info.update(
        {
            "state_dir": str(state_dir),
            "config": str(overlay),
            "left_out": demo.left_out,
            "ports": ports,
            "sandbox": {"url": view.url, "token_file": str(token_file)},
            "database": config.database_url,
            "health": f"http://127.0.0.1:{ports['http']}/ready",
            "sample": sample_of(view, data, linked(users, link), mailboxes),
            "link_sample": link,
        }
    )
    write_info(demo)
    print(banner(demo, view, secret_folder), flush=True)
    configure_logging(config)

    async def main() -> None:
        stop = asyncio.Event()
        bridge = asyncio.create_task(serve(config, stop, hangup_stops=True), name="bridge")
        watcher = asyncio.create_task(_announce_when_ready(demo, stop, view), name="demo-ready")
        try:
            await bridge
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
    return 0


async def _announce_when_ready(demo: Demo, stop: asyncio.Event, view: SandboxView) -> None:
    url = demo.info["health"]

    def ready() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:
                return bool(answer.status == 200)
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            return False

    deadline = time.monotonic() + READY_TIMEOUT
    while not stop.is_set():
        if await asyncio.to_thread(ready):
            sample = demo.info.get("sample")
            if sample:
                # Old messages are history (never mailed again): a fresh one to answer to.
                await asyncio.to_thread(view.welcome, sample["conversation_id"], sample["author"])
            demo.info["ready"] = True
            write_info(demo)
            print(try_it(demo), flush=True)
            return
        if time.monotonic() > deadline:
            print(
                f"demo: the bridge is not ready after {READY_TIMEOUT:.0f} s; see {url} and the "
                "log above",
                file=sys.stderr,
                flush=True,
            )
            return
        await asyncio.sleep(0.5)
