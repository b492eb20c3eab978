"""The ``spico-bridge`` command: run, check-config, generate-registration, sandbox, db, demo.

Heavy imports happen inside each command so that ``--help`` and ``check-config`` stay instant.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from bridge import __version__

if TYPE_CHECKING:
    from bridge.config import BridgeConfig

DEFAULT_CONFIG = "/etc/spico-bridge/config.yaml"


def _config_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-c",
        "--config",
        default=os.environ.get("SPICO_BRIDGE_CONFIG", DEFAULT_CONFIG),
        help="YAML config file (default: $SPICO_BRIDGE_CONFIG or %(default)s)",
    )


def _load_config_or_exit(path: str) -> BridgeConfig:
    from bridge.config import ConfigError, load_config

    try:
        return load_config(path)
    except ConfigError as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        print(
            f"{path}: invalid configuration (see `spico-bridge check-config {path}`)",
            file=sys.stderr,
        )
        raise SystemExit(2) from None


def _cmd_run(args: argparse.Namespace) -> int:
    from bridge.app import run

    return run(_load_config_or_exit(args.config))


def _cmd_check_config(args: argparse.Namespace) -> int:
    from bridge.config import check_config_command

    return check_config_command(args.path)


def _cmd_generate_registration(args: argparse.Namespace) -> int:
    from pathlib import Path

    from bridge.matrix.appservice.registration import write_registration

    config = _load_config_or_exit(args.config)
    matrix = config.matrix
    if not matrix.enabled or matrix.mode != "appservice":
        print(
            f"{args.config}: matrix.mode is not appservice (or matrix is disabled): "
            "relay mode needs no registration",
            file=sys.stderr,
        )
        return 2
    path = Path(args.output)
    write_registration(matrix, path)
    print(
        f"wrote {path} (mode 0600: it holds as_token and hs_token).\n"
        f"Copy it where the homeserver can read it, list it in homeserver.yaml:\n"
        f"    app_service_config_files:\n      - /path/to/{path.name}\n"
        f"and restart the homeserver. It pushes events to {matrix.appservice.homeserver_url}"  # type: ignore[union-attr]
    )
    return 0


def _cmd_db(args: argparse.Namespace) -> int:
    from bridge.store import db

    url = args.url or _load_config_or_exit(args.config).database_url
    if args.action == "upgrade":
        db.upgrade(url)
        print(f"database schema at revision {db.current_revision(url)}")
    else:
        print(db.current_revision(url) or "empty database (run `spico-bridge db upgrade`)")
    return 0


def _cmd_purge(args: argparse.Namespace) -> int:
    import asyncio

    from bridge.ops import purge_audit
    from bridge.store.repositories import Store

    config = _load_config_or_exit(args.config)

    async def purge() -> int:
        store = await Store.open(config.database_url)
        try:
            return await purge_audit(store, config.audit.retention_days)
        finally:
            await store.close()

    removed = asyncio.run(purge())
    print(f"{removed} audit rows older than {config.audit.retention_days} days removed")
    return 0


def _cmd_sandbox(args: argparse.Namespace) -> int:
    from bridge.spico.sandbox.__main__ import sandbox_command

    return sandbox_command(args)


def _cmd_demo(args: argparse.Namespace) -> int:
    from bridge.demo import demo_command

    return demo_command(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spico-bridge",
        description="Bridge SPICO conversations to Matrix rooms and secure mail (MSSanté).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run the bridge daemon")
    _config_argument(run)
    run.set_defaults(handler=_cmd_run)

    check = commands.add_parser(
        "check-config", help="validate a config file; print FILE:LINE: key.path: message"
    )
    check.add_argument("path")
    check.set_defaults(handler=_cmd_check_config)

    registration = commands.add_parser(
        "generate-registration",
        help="write the appservice registration file for the homeserver (matrix.mode appservice)",
    )
    _config_argument(registration)
    registration.add_argument(
        "-o",
        "--output",
        default="spico-bridge-registration.yaml",
        help="where to write it (default: %(default)s)",
    )
    registration.set_defaults(handler=_cmd_generate_registration)

    database = commands.add_parser("db", help="database schema management")
    database.add_argument("action", choices=["upgrade", "current"])
    _config_argument(database)
    database.add_argument("--url", help="database URL (instead of the config's)")
    database.set_defaults(handler=_cmd_db)

    purge = commands.add_parser(
        "purge", help="delete audit rows older than audit.retention_days (the daemon does it daily)"
    )
    _config_argument(purge)
    purge.set_defaults(handler=_cmd_purge)

    bench = commands.add_parser(
        "bench", help="measure the bridge against direct use of the same servers", add_help=False
    )
    bench.set_defaults(handler=lambda _args: _cmd_bench([]))

    from bridge.spico.sandbox.__main__ import add_sandbox_arguments

    sandbox = commands.add_parser("sandbox", help="run the SPICO sandbox server (test platform)")
    add_sandbox_arguments(sandbox)
    sandbox.set_defaults(handler=_cmd_sandbox)

    demo = commands.add_parser(
        "demo",
        help="start the sandbox, Synapse, Postfix + Dovecot and the bridge locally (scripts/demo)",
    )
    from bridge.demo import add_demo_arguments

    add_demo_arguments(demo)
    demo.set_defaults(handler=_cmd_demo)
    return parser


def _cmd_bench(argv: list[str]) -> int:
    from bridge.bench import main as bench_main

    return bench_main(argv)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["bench"]:  # its own options (--sections…) are parsed by bridge.bench
        return _cmd_bench(arguments[1:])
    args = build_parser().parse_args(arguments)
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
