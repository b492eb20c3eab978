"""Sections ``mail`` and ``reply``: a member's mailbox fed directly, then through the bridge,
and replies by mail that must reach SPICO.

Direct: aiosmtplib submits N mails to Postfix on one authenticated connection (each send
awaited); they are timestamped when Dovecot has stored them in the recipient's mailbox.
Bridged: N messages posted to a SPICO conversation whose other member follows by mail
(``delivery: mail``) reach that member's mailbox through ``spico-bridge run`` (a subprocess,
mail world only). Reply: the member answers a bridged mail over SMTP; the time until SPICO's
event feed shows the reply (Dovecot's IMAP IDLE notice alone takes ~0.5 s of it).
"""

from __future__ import annotations

import asyncio
import email.utils
import secrets
import ssl
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib

from bridge.bench.observe import (
    MaildirWatcher,
    Phase,
    Send,
    SpicoWatcher,
    burst,
    one_by_one,
    open_conversation,
    spico_sender,
    throughput_rows,
)
from bridge.bench.servers import (
    BridgeProcess,
    Cast,
    Sandbox,
    bridge_config,
    mail_world,
    process_cpu,
)
from bridge.bench.stats import (
    Counts,
    Row,
    at_most,
    marker,
)
from bridge.mail.localserver import LocalMailServer
from bridge.spico.client import SpicoClient

BRIDGE_ADDRESS = "spico-bridge@sandbox.mssante.fr"
SENDER_ADDRESS = "bench-sender@test.mssante.fr"
DIRECT_ADDRESS = "bench-direct@test.mssante.fr"


def mailboxes(people: Cast, password: str) -> dict[str, str]:
    """Every mailbox the sections use (address → password), created before Postfix starts."""
    return {
        address: password
        for address in (BRIDGE_ADDRESS, SENDER_ADDRESS, DIRECT_ADDRESS, people.mail_address)
    }


async def smtp_session(server: LocalMailServer, address: str, password: str) -> aiosmtplib.SMTP:
    """A submission session (STARTTLS + AUTH), opened once and reused like the bridge does."""
    client = aiosmtplib.SMTP(
        hostname="127.0.0.1",
        port=server.ports.submission,
        start_tls=True,
        tls_context=ssl.create_default_context(cafile=str(server.ca_file)),
        username=address,
        password=password,
        timeout=10,
    )
    await client.connect()
    return client


def _mail(sender: str, recipient: str, subject: str, body: str) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = recipient
    mail["Subject"] = subject
    mail["Date"] = email.utils.formatdate(localtime=False)
    mail["Message-ID"] = email.utils.make_msgid(domain=sender.split("@", 1)[1])
    mail.set_content(body + "\n")
    return mail


def reply_to(original: EmailMessage, sender: str, text: str) -> EmailMessage:
    """An answer as a mail client writes it: to Reply-To, threaded on the original."""
    reply = _mail(sender, str(original["Reply-To"]), "Re: " + str(original["Subject"]), text)
    reply["In-Reply-To"] = str(original["Message-ID"])
    reply["References"] = f"{original['References'] or ''} {original['Message-ID']}".strip()
    return reply


def _smtp_sender(client: aiosmtplib.SMTP, sender: str, recipient: str) -> Send:
    async def send(text: str) -> None:
        await client.send_message(_mail(sender, recipient, text, text))

    return send


async def _direct(server: LocalMailServer, password: str, count: int) -> tuple[Phase, Phase]:
    watcher = MaildirWatcher(server.maildir(DIRECT_ADDRESS))
    client = await smtp_session(server, SENDER_ADDRESS, password)
    watcher.start()
    try:
        send = _smtp_sender(client, SENDER_ADDRESS, DIRECT_ADDRESS)
        await one_by_one(send, watcher, "ld-warm", 1)
        return await burst(send, watcher, "ld-burst", count), await one_by_one(
            send, watcher, "ld-one", count
        )
    finally:
        await watcher.stop()
        client.close()


async def _bridged(
    server: LocalMailServer,
    spico: Sandbox,
    people: Cast,
    password: str,
    counts: Counts,
    sections: list[str],
    bridge_pid: int,
) -> tuple[Phase | None, Phase | None, Phase | None, float]:
    """The bridged phases (burst, one by one) and the reply phase, as the sections ask; and
    the bridge's CPU seconds per bridged mail."""
    bridge_cpu = 0.0
    run = secrets.token_hex(4)
    watcher = MaildirWatcher(server.maildir(people.mail_address))
    watcher.start()
    replies: SpicoWatcher | None = None
    try:
        async with SpicoClient(spico.base_url, spico.token) as client:
            conversation = await open_conversation(
                client, people.author, [people.mail_member], "Bench mail", "lb", run
            )
            send = spico_sender(client, conversation, people.author, run)
            await watcher.wait_for([marker("lb-first", 0)], 60)
            burst_phase = one_phase = reply_phase = None
            if "mail" in sections:
                cpu = process_cpu(bridge_pid)
                burst_phase = await burst(send, watcher, "lb-burst", counts.mails)
                one_phase = await one_by_one(send, watcher, "lb-one", counts.mails)
                bridge_cpu = (process_cpu(bridge_pid) - cpu) / (2 * counts.mails)
            if "reply" in sections:
                replies = SpicoWatcher(client)
                await replies.catch_up()
                replies.start()
                reply_phase = await _replies(server, watcher, replies, people, password, counts)
            return burst_phase, one_phase, reply_phase, bridge_cpu
    finally:
        await watcher.stop()
        if replies is not None:
            await replies.stop()


async def _replies(
    server: LocalMailServer,
    mailbox: MaildirWatcher,
    replies: SpicoWatcher,
    people: Cast,
    password: str,
    counts: Counts,
) -> Phase:
    """The member answers the last bridged mail, one reply at a time."""
    original = mailbox.last_thread_mail
    if original is None:
        raise RuntimeError("no bridged mail to answer")
    client = await smtp_session(server, people.mail_address, password)
    try:

        async def send(text: str) -> None:
            await client.send_message(reply_to(original, people.mail_address, text))

        # The pause lets the bridge go back to IMAP IDLE: a reply that comes while it is still
        # busy with the previous one is found without waiting for Dovecot's IDLE notice.
        return await one_by_one(send, replies, "rp", counts.replies, pause=0.5)
    finally:
        client.close()


def mail_sections(
    folder: Path,
    spico: Sandbox,
    server: LocalMailServer,
    people: Cast,
    password: str,
    counts: Counts,
    sections: list[str],
) -> list[Row]:
    direct = asyncio.run(_direct(server, password, counts.mails)) if "mail" in sections else None
    work = folder / "bridge-mail"
    work.mkdir()
    config = bridge_config(
        work,
        spico,
        [{"spico_id": people.mail_member, "mail": people.mail_address, "delivery": "mail"}],
        mail=mail_world(work, server, BRIDGE_ADDRESS, password) | {"mss_nil": "SPICO-BRIDGE-BENCH"},
    )
    with BridgeProcess(work, config) as bridge:
        bridged_burst, bridged_one, reply_phase, bridge_cpu = asyncio.run(
            _bridged(server, spico, people, password, counts, sections, bridge.pid)
        )
    rows = []
    if direct is not None and bridged_burst is not None and bridged_one is not None:
        rows += mail_rows(counts.mails, direct, (bridged_burst, bridged_one), bridge_cpu)
    if reply_phase is not None:
        rows += reply_rows(counts.replies, reply_phase)
    return rows


#: Targets (issue 14): bridged ÷ direct throughput, bridge CPU per mail.
THROUGHPUT_TARGET = 0.5
CPU_MS = 5


def mail_rows(
    count: int, direct: tuple[Phase, Phase], bridged: tuple[Phase, Phase], bridge_cpu: float
) -> list[Row]:
    """The ``mail`` section's rows from its raw measurements (pure)."""
    heading = f"mail, {count} mails to one mailbox: mails/s direct / bridged"
    return [
        *throughput_rows(heading, "mail", [(direct[0], bridged[0])], THROUGHPUT_TARGET),
        Row("mail: latency p50 / p95 / p99 ms, direct (SMTP → mailbox)", direct[1].latency().ms()),
        Row(
            "mail: latency p50 / p95 / p99 ms, bridged (SPICO post → mailbox)",
            bridged[1].latency().ms(),
        ),
        Row(
            "mail: bridge CPU ms per mail",
            f"{bridge_cpu * 1000:.1f}",
            at_most(bridge_cpu * 1000, CPU_MS, f"≤ {CPU_MS} ms"),
        ),
    ]


def reply_rows(count: int, phase: Phase) -> list[Row]:
    """The ``reply`` section's row (pure)."""
    latency = phase.latency()
    return [
        Row(
            f"reply by mail → SPICO, {count} replies: latency p50 / p95 / p99 ms",
            latency.ms(),
            at_most(latency.p50, 0.7, "p50 ≤ 700 ms"),
        )
    ]
