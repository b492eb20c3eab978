"""``python -m bridge.spico.sandbox``: run the SPICO sandbox server in the foreground.

The same options back ``spico-bridge sandbox`` (the CLI calls :func:`add_sandbox_arguments` and
:func:`sandbox_command`).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from bridge.spico.sandbox.seed import DEFAULT_MAIL_DOMAIN

TOKEN_ENVIRONMENT_VARIABLE = "SPICO_SANDBOX_TOKEN"
#: Accepted when neither a token file nor the environment variable gives one: local use only.
DEFAULT_LOCAL_TOKEN = "sandbox-token"


def add_sandbox_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8731, help="TCP port to listen on")
    parser.add_argument(
        "--db",
        type=Path,
        default=Path("spico-sandbox.sqlite3"),
        help="SQLite file of the sandbox (seeded when it does not exist)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=42,
        help="seed number of the synthetic directory (same seed, same data)",
    )
    parser.add_argument(
        "--token-file",
        type=Path,
        help=f"file holding the bearer token (else ${TOKEN_ENVIRONMENT_VARIABLE},"
        f" else '{DEFAULT_LOCAL_TOKEN}', for local use only)",
    )
    parser.add_argument(
        "--demo-conversations",
        type=int,
        default=0,
        help="conversations to create when the database is first seeded",
    )
    parser.add_argument(
        "--mail-domain", default=DEFAULT_MAIL_DOMAIN, help="domain of the seeded MSSanté addresses"
    )


def sandbox_token(token_file: Path | None) -> str:
    """The bearer token: token file, else environment, else the local-only default."""
    if token_file is not None:
        token = token_file.read_text(encoding="utf-8").strip()
        if not token:
            raise SystemExit(f"the token file {token_file} is empty")
        return token
    return os.environ.get(TOKEN_ENVIRONMENT_VARIABLE) or DEFAULT_LOCAL_TOKEN


def sandbox_command(args: argparse.Namespace) -> int:
    from bridge.spico.sandbox.server import run_sandbox

    token = sandbox_token(args.token_file)
    if args.host not in ("127.0.0.1", "::1", "localhost") and token == DEFAULT_LOCAL_TOKEN:
        print(
            "warning: the sandbox listens beyond loopback with the default token", file=sys.stderr
        )
    run_sandbox(
        args.host,
        args.port,
        args.db,
        token,
        args.seed,
        args.demo_conversations,
        mail_domain=args.mail_domain,
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bridge.spico.sandbox",
        description="SPICO sandbox: the SPICO API contract on a local SQLite file.",
    )
    add_sandbox_arguments(parser)
    return sandbox_command(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
