"""A member's own mail choices end to end, against the SPICO sandbox, the bridge in-process and
real Postfix + Dovecot: every bridge mail carries List-Unsubscribe and the footer's addresses;
a mail to the unsubscribe address, from the token's holder, stops that conversation's mails and
only that one (and the member is told). The rules are unit-tested in tests/core/test_routing.py
and tests/mail/test_threads.py."""

from __future__ import annotations

import re
import time
from email.message import EmailMessage
from pathlib import Path

from sqlalchemy import func, select

from bridge.mail.localserver import LocalMailServer
from bridge.spico.client import SpicoClient
from bridge.spico.sandbox.seed import Directory
from bridge.store.models import Delivery
from tests.fixtures.bridge import scenario_config
from tests.fixtures.sandbox import Personas, SandboxProcess, open_conversation
from tests.fixtures.waiting import eventually
from tests.fixtures.worlds import StartBridge, mail_section, mails, submit_to, text_of

PASSWORD = "choice-password"


def unsubscribe(server: LocalMailServer, original: EmailMessage, sender: str) -> str:
    """What a mail client's "unsubscribe" button sends: a short mail to the List-Unsubscribe
    address. Returns that address."""
    address = re.fullmatch(r"<mailto:([^>]+)>", str(original["List-Unsubscribe"]).strip()).group(1)  # type: ignore[union-attr]
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = address
    mail["Subject"] = "unsubscribe"
    mail["Message-ID"] = f"<unsub.{time.time_ns()}@test.mssante.fr>"
    mail.set_content("unsubscribe")
    submit_to(server, mail, username=sender, password=PASSWORD)
    return address


async def test_an_unsubscribe_mail_stops_that_conversation_and_only_that_one(
    mail_server: LocalMailServer,
    spico_sandbox: SandboxProcess,
    spico_directory: Directory,
    spico_client: SpicoClient,
    personas: Personas,
    in_process_bridge: StartBridge,
    tmp_path: Path,
) -> None:
    people = {p.id: p for p in spico_directory.professionals}
    doctor = personas.doctor
    member = next(c for c in personas.colleagues[-12:-9] if people[c].mssante_address)
    address = people[member].mssante_address.lower()
    mail_server.add_mailboxes({address: PASSWORD})
    path = scenario_config(
        tmp_path,
        spico_sandbox,
        [{"spico_id": member, "mail": address, "delivery": "mail"}],
        mail=mail_section(mail_server, tmp_path / "secrets"),
    )
    bridge = await in_process_bridge(path)
    stamp = time.time_ns()
    subjects = {"a": f"Arrêt {stamp}", "b": f"Suite {stamp}"}
    conversations = {}
    for key, subject in subjects.items():
        created = await open_conversation(spico_client, doctor, [member], subject, f"Premier {key}")
        conversations[key] = created.conversation.id
    first = {
        key: (await eventually(lambda s=s: mails(mail_server, address, s), "a first mail"))[0]
        for key, s in subjects.items()
    }
    footer = text_of(first["a"])
    assert "+stop." in footer and "+all." in footer, "the footer's two addresses"

    stop_address = unsubscribe(mail_server, first["a"], address)
    assert stop_address in footer
    answer = await eventually(
        lambda: mails(mail_server, address, "Vos courriels SPICO"), "the confirmation"
    )
    assert subjects["a"] in text_of(answer[0]) and "ne recevrez plus" in text_of(answer[0])

    for key in ("a", "b"):
        await spico_client.post_message(
            conversations[key],
            on_behalf_of=doctor,
            acting_as=doctor,
            body=f"Second {key}",
            idempotency_key=f"second-{conversations[key]}",
        )
    await eventually(
        lambda: len(mails(mail_server, address, subjects["b"])) >= 2 or None, "b's second mail"
    )
    # The second message of "a" was routed before "b"'s (SPICO's order): no mail for it.
    async with bridge.store.transaction() as session:
        queued = dict(
            (
                await session.execute(
                    select(Delivery.conversation_id, func.count())
                    .where(Delivery.world == "mail", Delivery.destination == member)
                    .group_by(Delivery.conversation_id)
                )
            ).all()
        )
    assert queued == {conversations["a"]: 1, conversations["b"]: 2}
    assert len(mails(mail_server, address, subjects["a"])) == 1
