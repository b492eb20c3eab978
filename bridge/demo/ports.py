"""The demo's loopback ports: fixed by default, free ones picked at start (``--ports auto``),
or given one by one (``--port NAME=N``)."""

from __future__ import annotations

import socket
from collections.abc import Mapping

from bridge.demo.state import DemoError
from bridge.ports import free_port

#: Where the demo's servers listen by default (loopback only). ``http`` is the bridge's
#: health/metrics endpoint, ``appservice`` where Synapse pushes to the bridge; the six mail
#: ports are the local Postfix + Dovecot's.
DEFAULT_PORTS: dict[str, int] = {
    "sandbox": 8089,
    "synapse": 8008,
    "appservice": 29328,
    "http": 9464,
    "submission": 2587,
    "mx": 2525,
    "lmtp": 2424,
    "imap": 2143,
    "imaps": 2993,
    "auth": 2012,
}
MAIL_PORT_NAMES = ("submission", "mx", "lmtp", "imap", "imaps", "auth")


def choose_ports(mode: str = "fixed", overrides: Mapping[str, int] | None = None) -> dict[str, int]:
    """The demo's ports: the defaults (``fixed``) or free ones picked now (``auto``), with
    ``overrides`` (name → port) applied on top."""
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(DEFAULT_PORTS))
    if unknown:
        raise DemoError(
            f"unknown port name(s) {', '.join(unknown)}: use {', '.join(DEFAULT_PORTS)}"
        )
    ports = dict(DEFAULT_PORTS)
    if mode == "auto":
        taken = set(overrides.values())
        for name in ports:
            if name not in overrides:
                port = free_port()
                while port in taken:
                    port = free_port()
                ports[name] = port
                taken.add(port)
    elif mode != "fixed":
        raise DemoError(f"--ports is fixed or auto, not {mode!r}")
    ports.update(overrides)
    if len(set(ports.values())) != len(ports):
        raise DemoError(f"two demo services on the same port: {ports}")
    return ports


def parse_port_overrides(items: list[str] | None) -> dict[str, int]:
    """``["sandbox=18089", …]`` → ``{"sandbox": 18089}``."""
    found: dict[str, int] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not value.isdigit() or not 0 < int(value) < 65536:
            raise DemoError(f"--port expects NAME=PORT (e.g. sandbox=18089), not {item!r}")
        found[name.strip()] = int(value)
    return found


def ports_in_use(ports: Mapping[str, int]) -> list[str]:
    busy = []
    for name, port in ports.items():
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            # As the servers bind: connections of a previous run in TIME_WAIT do not count.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                busy.append(f"{name} {port}")
    return busy
