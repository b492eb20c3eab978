"""``spico-bridge bench``: measure the bridge against direct use of the same servers, in one run.

Everything runs on this machine, on servers the bench starts itself (SPICO sandbox, Synapse,
Postfix + Dovecot, each bridge as ``spico-bridge run``), on free loopback ports, stopped by
PID at the end. Printed as a Markdown table that the README keeps with the machine it ran on.
Sections (``--sections``, all by default):

- ``outbox``, ``startup``: the hub alone (``bridge.bench.hub``).
- ``matrix``: a room fed by a Matrix client versus through the bridge (``bridge.bench.matrix``).
- ``mail``: a mailbox fed by SMTP versus through the bridge; ``reply``: a mail reply until it is
  in SPICO (``bridge.bench.mail``).
- ``flood``: a Matrix relay while large HTML-only mails are read (``bridge.bench.flood``).
- ``backlog``: 10,000 SPICO messages drained after downtime against the live rate; ``crash``:
  mails received twice per ``kill -9`` (``bridge.bench.backlog``).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shutil
import sys
import tempfile
from pathlib import Path

from bridge.bench.backlog import BACKLOG, LIVE, backlog_section, crash_section
from bridge.bench.flood import BRIDGE_ADDRESS as FLOOD_ADDRESS
from bridge.bench.flood import flood_section
from bridge.bench.hub import outbox_section, startup_section
from bridge.bench.mail import BRIDGE_ADDRESS, mail_sections, mailboxes
from bridge.bench.matrix import matrix_section
from bridge.bench.servers import Cast, Sandbox, cast, sandbox
from bridge.bench.stats import Counts, Row, table
from bridge.mail.localserver import LocalMailServer
from bridge.matrix.localserver import Synapse, SynapseMissing, synapse_python

SECTIONS = ("outbox", "startup", "matrix", "mail", "reply", "flood", "backlog", "crash")


def _progress(text: str) -> None:
    print(f"bench: {text}", file=sys.stderr, flush=True)


def run_bench(sections: list[str], messages: int = 200, *, keep: bool = False) -> list[Row]:
    """Run the sections in order; with ``keep`` the work folder (logs, databases) stays."""
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        raise SystemExit(f"unknown sections: {', '.join(sorted(unknown))} (known: {SECTIONS})")
    counts = Counts.of(messages)
    rows: list[Row] = []
    with (
        (
            contextlib.nullcontext(tempfile.mkdtemp(prefix="spico-bench-"))
            if keep
            else tempfile.TemporaryDirectory(prefix="spico-bench-")
        ) as name,
        contextlib.ExitStack() as stack,
    ):
        folder = Path(name)
        if keep:
            _progress(f"work folder kept: {folder}")
        folder.chmod(0o755)  # Dovecot's mail processes (user mail) must traverse it
        if "outbox" in sections:
            _progress("outbox")
            rows += outbox_section(folder)
        if not {"startup", "matrix", "mail", "reply", "flood", "backlog", "crash"} & set(sections):
            return rows
        spico = stack.enter_context(sandbox(folder))
        if "startup" in sections:
            _progress("startup")
            rows += startup_section(folder, spico)
        people = cast()
        if "matrix" in sections:
            _progress(f"matrix ({counts.matrix} messages per phase)")
            rows += _matrix(folder, spico, people, counts, stack)
        if "mail" in sections or "reply" in sections:
            _progress(f"mail ({counts.mails} mails per phase, {counts.replies} replies)")
            rows += _mail(folder, spico, people, counts, sections, stack)
        if "flood" in sections:
            _progress(f"flood ({counts.replies} Matrix relays quiet, then while mails are read)")
            rows += _flood(folder, spico, people, counts, stack)
        if "backlog" in sections:
            _progress(f"backlog ({BACKLOG:,} messages after downtime, {LIVE:,} live)")
            rows += backlog_section(folder, spico, people)
        if "crash" in sections:
            _progress("crash (kill -9 during a burst of mails)")
            rows += _crash(folder, spico, people, stack)
    return rows


def _crash(folder: Path, spico: Sandbox, people: Cast, stack: contextlib.ExitStack) -> list[Row]:
    if not shutil.which("postfix") or not shutil.which("dovecot"):
        return [Row("crash", "not measured: Postfix/Dovecot not installed (scripts/mailserver)")]
    password = secrets.token_urlsafe(12)
    server = LocalMailServer(
        folder / "mail-crash", users={BRIDGE_ADDRESS: password, people.mail_address: password}
    )
    stack.callback(server.stop)
    server.start()
    try:
        return crash_section(folder, spico, server, people, password)
    finally:
        server.stop()


def _matrix(
    folder: Path, spico: Sandbox, people: Cast, counts: Counts, stack: contextlib.ExitStack
) -> list[Row]:
    try:
        synapse_python()
    except SynapseMissing:
        return [Row("Matrix", "not measured: Synapse not installed (scripts/synapse)")]
    synapse = Synapse(folder / "synapse", access_log=True)  # its split of CPU per message
    stack.callback(synapse.stop)
    synapse.start()
    try:
        return matrix_section(folder, spico, synapse, people, counts.matrix)
    finally:
        synapse.stop()  # now: its CPU is not the mail sections' business


def _mail(
    folder: Path,
    spico: Sandbox,
    people: Cast,
    counts: Counts,
    sections: list[str],
    stack: contextlib.ExitStack,
) -> list[Row]:
    if not shutil.which("postfix") or not shutil.which("dovecot"):
        return [Row("mail", "not measured: Postfix/Dovecot not installed (scripts/mailserver)")]
    password = secrets.token_urlsafe(12)
    server = LocalMailServer(folder / "mail", users=mailboxes(people, password))
    stack.callback(server.stop)
    server.start()
    try:
        return mail_sections(
            folder,
            spico,
            server,
            people,
            password,
            counts,
            sections,
        )
    finally:
        server.stop()


def _flood(
    folder: Path, spico: Sandbox, people: Cast, counts: Counts, stack: contextlib.ExitStack
) -> list[Row]:
    if not shutil.which("postfix") or not shutil.which("dovecot"):
        return [Row("flood", "not measured: Postfix/Dovecot not installed (scripts/mailserver)")]
    try:
        synapse_python()
    except SynapseMissing:
        return [Row("flood", "not measured: Synapse not installed (scripts/synapse)")]
    password = secrets.token_urlsafe(12)
    server = LocalMailServer(
        folder / "mail-flood", users={FLOOD_ADDRESS: password, people.mail_address: password}
    )
    synapse = Synapse(folder / "synapse-flood")
    stack.callback(server.stop)
    stack.callback(synapse.stop)
    server.start()
    synapse.start()
    try:
        return flood_section(folder, spico, synapse, server, people, password, counts.replies)
    finally:
        synapse.stop()
        server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="spico-bridge bench")
    parser.add_argument(
        "--sections",
        default=",".join(SECTIONS),
        help=f"comma-separated, among {', '.join(SECTIONS)} (default: all)",
    )
    parser.add_argument(
        "--messages",
        type=int,
        default=200,
        help="messages per Matrix phase; mail phases send half as many, replies a tenth "
        "(default %(default)s)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the work folder (servers' and bridges' logs)"
    )
    args = parser.parse_args(argv)
    if args.messages < 1:
        parser.error("--messages must be at least 1")
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    rows = run_bench(sections, args.messages, keep=args.keep)
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    for line in table(rows):
        print(line)
    return 0
