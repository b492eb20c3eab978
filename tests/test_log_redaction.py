"""No message bodies, patient names/INS or reply tokens in any log line.

A real ``spico-bridge run`` (a subprocess, ``logging.level: DEBUG``, JSON and text formats:
everything it writes is captured) relays, with Matrix and mail enabled, a conversation about a
known patient in every direction: SPICO → Matrix and mail, Matrix → SPICO, a mail reply →
SPICO. Patient tags are ``full`` in rooms and mail subjects, so the patient's name travels in
as many payloads as the bridge can put it in. Then every captured line is searched for the
bodies, the patient's first and last names and INS, and the reply tokens of the bridged mails.
The relays are asserted first, so the search has something to find.

A second run goes through the error paths (a bad id, a SPICO refusal, an answer out of contract
quoting a patient, an SMTP refusal): exception texts that carried data must not reach the log.
"""

from __future__ import annotations

import json
import logging
import re
import unicodedata
import uuid
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from nio import RoomCreateResponse

from bridge import ops
from bridge.mail.localserver import LocalMailServer
from bridge.matrix.localserver import Synapse
from bridge.spico.client import SpicoClient
from bridge.spico.sandbox.seed import Directory, SeedPatient
from bridge.store import matrix as matrix_repo
from bridge.store.repositories import Store
from tests.fixtures.bridge import BridgeProcess, bridge_config
from tests.fixtures.ports import free_port
from tests.fixtures.sandbox import Personas, SandboxProcess, open_conversation
from tests.fixtures.synapse import MatrixUsers
from tests.fixtures.waiting import eventually
from tests.fixtures.worlds import (
    bodies,
    join_when_invited,
    mail_section,
    mails,
    matrix_section,
    reply_by_mail,
    reply_in,
    text_of,
    timeline,
)

PASSWORD = "redaction-password"
TOKEN_IN_ADDRESS = re.compile(r"\+([a-z0-9]{16,})@", re.IGNORECASE)
TOKEN_IN_REFERENCES = re.compile(r"<rt\.([a-z0-9]{16,})@", re.IGNORECASE)


def folded(text: str) -> str:
    """Lower case, accents dropped: how a name can reappear in an address or a slug."""
    decomposed = unicodedata.normalize("NFKD", text)
    return decomposed.encode("ascii", "ignore").decode("ascii").lower()


def pick_patient(directory: Directory, doctor: str, people: list[str]) -> SeedPatient:
    """A patient in the doctor's care circle whose names appear nowhere in the names or
    addresses of the professionals of the test (so a hit can only be the patient's)."""
    professionals = {p.id: p for p in directory.professionals}
    taken = " ".join(
        folded(f"{p.first_name} {p.last_name} {p.mssante_address}")
        for p in (professionals[i] for i in people)
    )
    circle = {m.patient_id for m in directory.care_circles if m.professional_id == doctor}
    for patient in directory.patients:
        names = [folded(patient.first_name), folded(patient.last_name)]
        if patient.id in circle and all(len(n) >= 4 and n not in taken for n in names):
            return patient
    pytest.fail("no patient in the doctor's circle with distinctive names")


def leaks(patterns: dict[str, re.Pattern[str]], lines: list[str]) -> list[str]:
    """``what: line`` for every line in which a secret's pattern is found."""
    return [
        f"{what}: {line[:300]}"
        for line in lines
        for what, pattern in patterns.items()
        if pattern.search(line)
    ]


def secrets_of(
    patient: SeedPatient, texts: list[str], tokens: set[str]
) -> dict[str, re.Pattern[str]]:
    patterns: dict[str, re.Pattern[str]] = {}
    for label, name in (("first name", patient.first_name), ("last name", patient.last_name)):
        for form in {name, folded(name)}:
            patterns[f"patient {label} {form!r}"] = re.compile(
                rf"(?<![A-Za-z]){re.escape(form)}(?![A-Za-z])", re.IGNORECASE
            )
    patterns["patient INS"] = re.compile(re.escape(patient.ins))
    patterns["patient NIR without key"] = re.compile(re.escape(patient.ins[:13]))
    for index, text in enumerate(texts):
        marker = text.rsplit(" ", 1)[-1]  # the unique part
        patterns[f"body {index}"] = re.compile(re.escape(marker))
    for token in tokens:
        patterns[f"reply token {token[:4]}…"] = re.compile(re.escape(token), re.IGNORECASE)
    return patterns


@pytest.mark.parametrize("log_format", ["json", "text"])
async def test_no_body_patient_identity_or_token_in_any_log_line(
    log_format: str,
    synapse: Synapse,
    matrix_users: MatrixUsers,
    mail_server: LocalMailServer,
    spico_sandbox: SandboxProcess,
    spico_directory: Directory,
    spico_client: SpicoClient,
    personas: Personas,
    bridge_processes: list[BridgeProcess],
    tmp_path: Path,
) -> None:
    people = {p.id: p for p in spico_directory.professionals}
    # Colleagues no other test file maps, active (an inactive one gets notifications instead).
    reader, talker = [
        c
        for c in personas.colleagues[30:]
        if people[c].status != "inactive" and people[c].mssante_address
    ][:2]
    doctor = personas.doctor
    patient = pick_patient(spico_directory, doctor, [doctor, reader, talker])
    reader_address = people[reader].mssante_address.lower()
    mail_server.add_mailboxes({reader_address: PASSWORD})
    bot, user = matrix_users.new("rbot"), matrix_users.new("rtalker")
    secrets = tmp_path / "secrets"
    database = f"sqlite:///{tmp_path / 'bridge.db'}"
    path = bridge_config(
        tmp_path,
        spico_sandbox,
        database_url=database,
        poll_wait_seconds=2,
        participants=[
            {"spico_id": reader, "mail": reader_address, "delivery": "mail"},
            {"spico_id": talker, "matrix_user": user.user_id, "delivery": "matrix"},
        ],
        delivery={"workers": 2, "backoff_initial_seconds": 0.2, "backoff_max_seconds": 1},
        matrix=matrix_section(synapse, bot, secrets),
        mail=mail_section(mail_server, secrets),
        sections={
            "logging": {"level": "DEBUG", "format": log_format},
            "policy": {"room_patient_tag": "full", "mail_patient_tag": "full"},
            "http": {"listen_host": "127.0.0.1", "listen_port": free_port()},
        },
    )
    log_path = tmp_path / "bridge.log"
    bridge = BridgeProcess(path, log_path)
    bridge_processes.append(bridge)
    bridge.start()

    tag = uuid.uuid4().hex[:12]
    kinds = ("spico", "spico", "matrix", "mail")
    texts = [f"Corps {kind} {tag}{index}" for index, kind in enumerate(kinds)]
    subject = f"Redaction {tag}"
    created = await open_conversation(
        spico_client, doctor, [reader, talker], subject, texts[0], patient_id=patient.id
    )
    conversation = created.conversation.id
    assert created.conversation.patient is not None

    store = await Store.open(database, migrate=False)
    try:

        async def portal() -> str | None:
            async with store.transaction() as session:
                row = await matrix_repo.get_portal(session, conversation)
            return row.room_id if row else None

        room_id = await eventually(portal, "the portal room")
    finally:
        await store.close()
    client = await matrix_users.login(user)
    await join_when_invited(client, room_id, user.user_id)

    async def in_room(text: str) -> list[dict[str, Any]]:
        return bodies(await timeline(client, room_id), text)

    async def in_spico(text: str) -> list[Any]:
        return [m for m in await spico_client.list_messages(conversation) if m.body == text]

    def mailed(text: str) -> list[EmailMessage]:
        return [m for m in mails(mail_server, reader_address, subject) if text in text_of(m)]

    # SPICO → Matrix and mail (twice: the second mail is threaded, with References).
    await eventually(lambda: in_room(texts[0]), "the first message in the room")
    await eventually(lambda: mailed(texts[0]), "the first message by mail")
    await spico_client.post_message(
        conversation,
        on_behalf_of=doctor,
        acting_as=doctor,
        body=texts[1],
        idempotency_key=f"redaction-{tag}",
    )
    await eventually(lambda: in_room(texts[1]), "the second message in the room")
    (second,) = await eventually(lambda: mailed(texts[1]), "the second message by mail")
    # Matrix → SPICO (and mail).
    await client.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": texts[2]})
    await eventually(lambda: in_spico(texts[2]), "the Matrix message in SPICO")
    await eventually(lambda: mailed(texts[2]), "the Matrix message by mail")
    # Mail reply → SPICO (and Matrix).
    reply_by_mail(mail_server, second, texts[3], sender=reader_address, password=PASSWORD)
    await eventually(lambda: in_spico(texts[3]), "the mail reply in SPICO")
    await eventually(lambda: in_room(texts[3]), "the mail reply in the room")

    received = mails(mail_server, reader_address, subject)
    tokens = {
        token
        for mail in received
        for header, pattern in (("Reply-To", TOKEN_IN_ADDRESS), ("References", TOKEN_IN_REFERENCES))
        for token in pattern.findall(str(mail[header] or ""))
    }
    assert tokens, "the bridged mails carry reply tokens"
    assert folded(patient.last_name) in folded(str(received[0]["Subject"])), "full tag in mail"
    assert bridge.stop() == 0, bridge.tail()

    lines = log_path.read_text(encoding="utf-8", errors="replace").splitlines()
    # The whole run is in the capture (the bridge itself has no DEBUG lines today; libraries'
    # DEBUG is dropped by bridge.ops, which the next test checks directly).
    assert any("spico-bridge ready" in line for line in lines)
    assert any(line.rstrip().endswith("stopped") or '"stopped"' in line for line in lines)
    found = leaks(secrets_of(patient, texts, tokens), lines)
    assert not found, f"{len(found)} leaks in {log_path}:\n" + "\n".join(found[:40])


def test_the_secret_patterns_do_find_what_they_look_for() -> None:
    """The search itself: each pattern hits its secret in a line, including folded names."""
    patient = SeedPatient(
        id="p1",
        ins="269054958815780",
        ins_oid="1.2.250.1.213.1.4.10",
        first_name="Hélène",
        last_name="Étienne",
        birth_date="1969-05-01",
        sex="F",
    )
    texts = ["Corps spico abc0"]
    patterns = secrets_of(patient, texts, {"abcdefghijklmnopqrstuvwxyz234567"})
    assert leaks(patterns, ["to helene.etienne@patient.mssante.fr"])
    assert leaks(patterns, ["patient HÉLÈNE"])
    assert leaks(patterns, ["ins=2690549588157"])
    assert leaks(patterns, ["body: Corps spico abc0 …"])
    assert leaks(patterns, ["Reply-To: bridge+ABCDEFGHIJKLMNOPQRSTUVWXYZ234567@x"])
    assert not leaks(patterns, ["Hélènes", "stienne", "abc1", "relayed message 42"])


def test_libraries_do_not_log_below_info_nor_wire_chatter_at_all(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The second line of defence behind the relay test: whatever the configured level, a
    library's DEBUG (and aioimaplib's INFO, which quotes raw lines) never reaches the log, the
    bridge's own DEBUG does, and a reply token in References is redacted."""
    ops.configure_logging("DEBUG", "json")
    try:
        logging.getLogger("aioimaplib.aioimaplib").info("unknown data received b'Corps secret'")
        logging.getLogger("some.library").debug("Sending : b'BODY[] Corps secret'")
        logging.getLogger("some.library").info("library started")
        logging.getLogger("bridge.test").debug("References <rt.%s@x>", "a" * 32)
        lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    finally:
        ops.configure_logging("INFO", "text")
    assert not any("Corps secret" in line["message"] for line in lines)
    assert any(line["message"] == "library started" for line in lines)
    (own,) = [line for line in lines if line["logger"] == "bridge.test"]
    assert own["level"] == "DEBUG" and "a" * 32 not in own["message"]


async def test_error_paths_log_types_and_the_bridges_own_words_only(
    synapse: Synapse,
    matrix_users: MatrixUsers,
    mail_server: LocalMailServer,
    spico_sandbox: SandboxProcess,
    spico_directory: Directory,
    spico_client: SpicoClient,
    personas: Personas,
    bridge_processes: list[BridgeProcess],
    tmp_path: Path,
) -> None:
    """The error paths, where exception texts used to be logged (``_describe(exc)``): an id
    that is no id, a SPICO refusal, an answer out of contract quoting a patient (a pydantic
    ValidationError), an SMTP server's refusal. The bridge answers each in its own words; its
    log (DEBUG) holds none of the data those errors carried."""
    people = {p.id: p for p in spico_directory.professionals}
    user_id = next(
        p.id
        for p in spico_directory.professionals
        if p.has_account and p.id not in {*personas.colleagues, personas.doctor}
    )
    patient = pick_patient(spico_directory, personas.doctor, [personas.doctor, user_id])
    bot, user = matrix_users.new("lbot"), matrix_users.new("lerr")
    secrets = tmp_path / "secrets"
    unknown = f"inconnu-{uuid.uuid4().hex[:8]}@sandbox.mssante.fr"
    path = bridge_config(
        tmp_path,
        spico_sandbox,
        database_url=f"sqlite:///{tmp_path / 'bridge.db'}",
        poll_wait_seconds=2,
        participants=[
            {"spico_id": user_id, "matrix_user": user.user_id, "delivery": "matrix"},
            {"spico_id": personas.no_account, "mail": unknown, "delivery": "mail"},
        ],
        delivery={
            "workers": 2,
            "backoff_initial_seconds": 0.2,
            "backoff_max_seconds": 1,
            "max_attempts": 2,
        },
        matrix=matrix_section(synapse, bot, secrets),
        mail=mail_section(mail_server, secrets),
        sections={
            "logging": {"level": "DEBUG", "format": "text"},
            "http": {"listen_host": "127.0.0.1", "listen_port": free_port()},
        },
    )
    log_path = tmp_path / "bridge.log"
    bridge = BridgeProcess(path, log_path)
    bridge_processes.append(bridge)
    bridge.start()

    client = await matrix_users.login(user)
    created = await client.room_create(is_direct=True, invite=[bot.user_id])
    assert isinstance(created, RoomCreateResponse), created
    room_id = created.room_id

    async def welcomed() -> bool:
        return any(e["sender"] == bot.user_id for e in await timeline(client, room_id))

    await eventually(welcomed, "the bot's welcome")

    async def ask(line: str) -> str:
        sent = await client.room_send(
            room_id, "m.room.message", {"msgtype": "m.text", "body": line}
        )
        event_id = getattr(sent, "event_id", None)
        assert event_id, sent
        answer = await reply_in(client, room_id, event_id, f"the answer to {line[:20]!r}")
        return str(answer["content"]["body"])

    traversal = f"x/../../accounts/{personas.doctor}/patients?"
    assert "pas un identifiant" in await ask(f"cercle {traversal}")
    foreign = await ask(f"cercle {personas.foreign_patient_id}")
    assert "pas accès" in foreign
    await spico_client._request(
        "POST",
        "/sandbox/faults",
        # Only the search's: the bridge's event long-poll must not use the fault up first.
        json_body={"count": 1, "answer_patient": patient.id, "only_path": "/directory/search"},
        expect_json=False,
    )
    assert "SPICO a répondu de façon inattendue" in await ask("recherche martin")
    # An SMTP refusal: the conversation's mail to an address Postfix does not know.
    conversation = await open_conversation(
        spico_client,
        personas.doctor,
        [personas.no_account],
        f"Erreurs {uuid.uuid4().hex[:8]}",
        "Adresse inconnue",
    )

    async def failure_notice() -> bool:
        messages = await spico_client.list_messages(conversation.conversation.id)
        return any(m.kind == "notice" for m in messages)

    await eventually(failure_notice, "the failure notice of the refused mail", within=60)
    assert bridge.stop() == 0

    lines = log_path.read_text(encoding="utf-8", errors="replace").splitlines()
    assert any("not a valid patient id" in line for line in lines), "the bad id is logged"
    assert any("SPICO answered out of contract" in line for line in lines)
    secrets_ = secrets_of(patient, [], set())
    secrets_.update(
        {
            "the pasted path": re.compile(re.escape(traversal)),
            "a validation error's text": re.compile(r"validation error|input_value|Field required"),
            "SPICO's sentence": re.compile(r"not part of this patient|hold no delegation", re.I),
            "the SMTP server's text": re.compile(r"Recipient address rejected|User unknown", re.I),
            "the homeserver's sentence": re.compile(r"not in room|is not in the room", re.I),
        }
    )
    found = leaks(secrets_, lines)
    assert not found, f"{len(found)} leaks in {log_path}:\n" + "\n".join(found[:40])
    assert people[user_id].last_name  # the directory entry the test acted as
