"""Section ``flood``: how much large HTML-only mail delays a Matrix relay (issue 12).

One bridge (``spico-bridge run``, both worlds) bridges a conversation to a Matrix room and, by
mail, to a member who follows it by mail. The Matrix relay (a SPICO post until the room
member's client sees it) is timed one message at a time: first with the mailbox quiet, then
while HTML-only mails (``<div `` repeated) of 100 KB and of 1 MB are being read, each batch
delivered to the bridge's mailbox through the MX port by another process, as another
operator's server would. From a stranger (outside the trust space: the bridge reads its header
and refuses it), and from the member with a valid reply token (the HTML is read, in the
parsing worker). The target: the slowest relay while they are read is at most 1 s slower than
the median with the mailbox quiet.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import secrets
import sqlite3
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from bridge.bench.matrix import accounts, join_portal, login
from bridge.bench.observe import (
    MaildirWatcher,
    Phase,
    RoomWatcher,
    one_by_one,
    open_conversation,
    spico_sender,
)
from bridge.bench.servers import (
    BridgeProcess,
    Cast,
    Sandbox,
    bridge_config,
    mail_world,
    matrix_world,
)
from bridge.bench.stats import Latency, Row, at_most, latencies, marker
from bridge.mail.localserver import LocalMailServer
from bridge.matrix.localserver import Synapse
from bridge.spico.client import SpicoClient

BRIDGE_ADDRESS = "spico-flood@sandbox.mssante.fr"
STRANGER = "inconnu@autre-domaine.example"
#: Mails of one size delivered in one phase.
FLOOD_MAILS = 5
SIZES = {"100 KB": 100 * 1024, "1 MB": 1024 * 1024}
#: The slowest relay while the mails are read may exceed the quiet median by this much.
BOUND_SECONDS = 1.0
READ_TIMEOUT = 120.0

#: Another operator's server: delivers the files of a plan on one connection, in a process of
#: its own (argv: MX port, plan file of [envelope sender, recipient, path]).
SENDER = """
import json, smtplib, sys
port, plan = int(sys.argv[1]), json.load(open(sys.argv[2]))
mails = [(sender, to, open(path, "rb").read()) for sender, to, path in plan]
with smtplib.SMTP("127.0.0.1", port, timeout=120) as client:
    for sender, to, raw in mails:
        client.sendmail(sender, [to], raw)
"""


@dataclass(frozen=True, slots=True)
class Flood:
    """One phase's mails: who sends them, how large."""

    label: str
    sender: str
    to: str
    size: int


def html_only(sender: str, to: str, size: int, message_id: str) -> bytes:
    """An HTML-only mail of about ``size`` bytes of ``<div `` (the issue's pathological shape)."""
    return (
        f"From: {sender}\r\nTo: {to}\r\nSubject: Re: dossier\r\nMessage-ID: {message_id}\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        f"<html><body>{'<div ' * (size // 5)}</body></html>\r\n"
    ).encode()


def _handled(database: Path, message_ids: list[str]) -> int:
    """How many of the mails the bridge has recorded (its SQLite store, read-only)."""
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5) as connection:
        marks = ",".join("?" * len(message_ids))
        query = f"SELECT COUNT(*) FROM mail_messages WHERE message_id IN ({marks})"
        return int(connection.execute(query, message_ids).fetchone()[0])


async def _during(
    flood: Flood,
    folder: Path,
    server: LocalMailServer,
    database: Path,
    relay: Callable[[str, int], Awaitable[Phase]],
    tag: str,
) -> Phase:
    """Matrix relays one by one from the moment the mails are delivered until the bridge has
    recorded every one of them."""
    run = secrets.token_hex(4)
    ids = [f"<flood-{tag}-{run}-{n}@bench>" for n in range(FLOOD_MAILS)]
    plan = []
    for number, message_id in enumerate(ids):
        path = folder / f"{tag}-{number}.eml"
        path.write_bytes(html_only(flood.sender, flood.to, flood.size, message_id))
        plan.append([flood.sender, flood.to, str(path)])
    (folder / f"{tag}.json").write_text(json.dumps(plan))
    sender = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        SENDER,
        str(server.ports.mx),
        str(folder / f"{tag}.json"),
        stdin=asyncio.subprocess.DEVNULL,
    )
    phase = Phase()
    deadline = time.monotonic() + READ_TIMEOUT
    try:
        number = 0
        while _handled(database, ids) < len(ids) or sender.returncode is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the bridge did not read the {flood.label} mails")
            step = await relay(f"{tag}-{number}", 1)
            phase.sent.update(step.sent)
            phase.seen.update(step.seen)
            number += 1
    finally:
        if sender.returncode is None:
            sender.kill()
        await sender.wait()
    return phase


async def _measure(
    folder: Path,
    spico: Sandbox,
    synapse: Synapse,
    server: LocalMailServer,
    people: Cast,
    member: tuple[str, str],
    database: Path,
    count: int,
) -> tuple[Phase, dict[str, Phase]]:
    run = secrets.token_hex(4)
    reader = await login(synapse, *member)
    watcher: RoomWatcher | None = None
    mailbox = MaildirWatcher(server.maildir(people.mail_address))
    mailbox.start()
    try:
        async with SpicoClient(spico.base_url, spico.token) as client:
            conversation = await open_conversation(
                client,
                people.author,
                [people.matrix_member, people.mail_member],
                "Bench flood",
                "fl",
                run,
            )
            room_id = await join_portal(reader, synapse, conversation)
            await mailbox.wait_for([marker("fl-first", 0)], 60)
            thread = mailbox.last_thread_mail
            if thread is None:
                raise RuntimeError("the mail member got no thread mail")
            watcher = RoomWatcher(reader, room_id)
            await watcher.catch_up()
            watcher.start()
            send = spico_sender(client, conversation, people.author, run)

            async def relay(tag: str, messages: int) -> Phase:
                return await one_by_one(send, watcher, f"fl-{tag}", messages, pause=0.02)

            await relay("warm", 1)
            quiet = await relay("quiet", count)
            token_address = email.utils.parseaddr(str(thread["Reply-To"]))[1]
            floods = [
                Flood(f"{label} from a stranger", STRANGER, BRIDGE_ADDRESS, size)
                for label, size in SIZES.items()
            ]
            floods.append(Flood("1 MB from a member", people.mail_address, token_address, 2**20))
            during = {}
            for number, flood in enumerate(floods):
                during[flood.label] = await _during(
                    flood, folder, server, database, relay, f"f{number}"
                )
            return quiet, during
    finally:
        if watcher is not None:
            await watcher.stop()
        await mailbox.stop()
        await reader.close()


def flood_section(
    folder: Path,
    spico: Sandbox,
    synapse: Synapse,
    server: LocalMailServer,
    people: Cast,
    password: str,
    count: int,
) -> list[Row]:
    work = folder / "bridge-flood"
    work.mkdir()
    (bot, bot_password), member = accounts(synapse, "spico-flood-bot", "flood-member")
    config = bridge_config(
        work,
        spico,
        [
            {"spico_id": people.matrix_member, "matrix_user": member[0], "delivery": "matrix"},
            {"spico_id": people.mail_member, "mail": people.mail_address, "delivery": "mail"},
        ],
        matrix=matrix_world(work, synapse, bot, bot_password),
        mail=mail_world(work, server, BRIDGE_ADDRESS, password),
    )
    with BridgeProcess(work, config):
        quiet, during = asyncio.run(
            _measure(work, spico, synapse, server, people, member, work / "bridge.db", count)
        )
    return flood_rows(quiet, during)


def flood_rows(quiet: Phase, during: dict[str, Phase]) -> list[Row]:
    """The section's rows from its raw measurements (pure)."""
    calm = latencies(quiet.sent, quiet.seen)
    base = Latency.of(calm).p50
    rows = [
        Row(
            "flood: Matrix relay p50 / max ms, mailbox quiet",
            f"{base * 1000:.0f} / {max(calm) * 1000:.0f}",
        )
    ]
    for label, phase in during.items():
        seen = latencies(phase.sent, phase.seen)
        worst = max(seen)
        added_ms = (worst - base) * 1000
        rows.append(
            Row(
                f"flood: Matrix relay p50 / max / max added ms, while HTML-only mails of "
                f"{label} are read",
                f"{Latency.of(seen).p50 * 1000:.0f} / {worst * 1000:.0f} / {added_ms:.0f}",
                at_most(added_ms, BOUND_SECONDS * 1000, "added < 1 s"),
            )
        )
    return rows


__all__ = ["flood_rows", "flood_section", "html_only"]
