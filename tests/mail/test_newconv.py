"""Starting a conversation by mail, the pure part: the request a new mail makes (subject,
members, first message, the Patient line), the members, and the confirmation. Which mails ask
for a new conversation is tested with the other trust checks (test_threads.py); the answers in
test_answers.py."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from bridge.core.composer import DirectoryEntry, PatientEntry
from bridge.core.delivery import Attachment
from bridge.core.identifiers import ins_key
from bridge.core.views import PatientView
from bridge.mail import compose, newconv, tokens
from bridge.mail.author import Author
from bridge.mail.body import Body, read_body
from bridge.mail.envelope import Envelope, read_envelope
from bridge.mail.threads import ThreadLookup, is_new_conversation

OWN = "bridge@sandbox.mssante.fr"
KEY = b"k" * 48
NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
SENDER = compose.Sender(OWN, "SPICO", "NIL-42")
INS = "2500331555123" + ins_key("2500331555123")


def _mail(
    *,
    to: str = OWN,
    cc: str = "anne.martin@sandbox.mssante.fr, paul.roux@sandbox.mssante.fr",
    subject: str = "Suivi de Mme X",
    body: str = "Bonjour,\n\nPouvez-vous passer ?\n",
    extra: str = "",
) -> tuple[Envelope, Body]:
    """A new mail from Dr Dupont, read as the inbox reads it (envelope, then body)."""
    raw = (
        "From: Dr Jean Dupont <jean.dupont@sandbox.mssante.fr>\r\n"
        f"To: {to}\r\n" + (f"Cc: {cc}\r\n" if cc else "") + f"Subject: {subject}\r\n"
        "Message-ID: <new-1@client.sandbox.mssante.fr>\r\n" + extra + "\r\n" + body
    ).encode()
    envelope, read = read_envelope(raw), read_body(raw)
    assert isinstance(envelope, Envelope) and isinstance(read, Body)
    return envelope, read


def _request(mail: tuple[Envelope, Body]) -> newconv.Request | newconv.Refusal:
    envelope, body = mail
    assert isinstance(envelope.author, Author)
    return newconv.read_request(
        subject=envelope.subject,
        addressed=envelope.addressed,
        author=envelope.author.address,
        body=body,
        own_address=OWN,
    )


def _entry(id_: str, kind: str = "professional", has_account: bool = True) -> DirectoryEntry:
    return DirectoryEntry(
        id=id_,
        kind=kind,  # type: ignore[arg-type]
        name=f"Dr {id_}",
        description="Médecin",
        city="Albi",
        id_kind="rpps",
        mssante_address=f"{id_}@sandbox.mssante.fr",
        has_account=has_account,
    )


def test_a_new_mail_to_the_bridge_starts_a_conversation() -> None:
    request = _request(_mail())
    assert isinstance(request, newconv.Request)
    assert request.subject == "Suivi de Mme X"
    assert request.body == "Bonjour,\n\nPouvez-vous passer ?"
    assert request.addresses == ("anne.martin@sandbox.mssante.fr", "paul.roux@sandbox.mssante.fr")
    assert request.patient is None


def test_the_patient_line_is_removed_and_read() -> None:
    for line in (
        "Patient : pat-00012",
        "patient: pat-00012",
        "PATIENT :pat-00012",
        "  Patiente : pat-00012  ",
        "**Patient :** pat-00012",
    ):
        body, patient, problem = newconv.extract_patient(f"Bonjour\n{line}\nMerci")
        assert (body, patient, problem) == (
            "Bonjour\nMerci",
            newconv.PatientRef("id", "pat-00012"),
            None,
        ), line
    spaced = " ".join([INS[0], INS[1:3], INS[3:5], INS[5:7], INS[7:10], INS[10:13], INS[13:]])
    body, patient, problem = newconv.extract_patient(f"Patient : {spaced}\n\nBonjour")
    assert patient == newconv.PatientRef("ins", INS) and body == "Bonjour" and problem is None


def test_patient_lines_that_are_prose_stay_and_bad_ones_are_reported() -> None:
    text = "Patient : stable depuis hier\nPatient: à revoir"
    assert newconv.extract_patient(text) == (text, None, None)
    wrong_key = INS[:13] + f"{(int(INS[13:]) + 1) % 100:02d}"
    assert newconv.extract_patient(f"Patient : {wrong_key}")[2] == "invalid_ins"
    assert newconv.extract_patient("Patient : pat-1\nPatient : pat-2")[2] == "several_patients"
    assert newconv.extract_patient("Patient : pat-1\nPatient : pat-1")[1:] == (
        newconv.PatientRef("id", "pat-1"),
        None,
    )


def test_the_body_is_stripped_like_a_reply_and_the_patient_taken_out() -> None:
    request = _request(
        _mail(
            body="Patient : pat-00007\nPouvez-vous le voir ?\n\n-- \nDr Jean Dupont\nCabinet\n"
            "\nEnvoyé de mon iPhone\n"
        )
    )
    assert isinstance(request, newconv.Request)
    assert request.body == "Pouvez-vous le voir ?"
    assert request.patient == newconv.PatientRef("id", "pat-00007")


def test_what_cannot_start_a_conversation() -> None:
    assert _request(_mail(subject="")) == newconv.Refusal("no_subject")
    assert _request(_mail(subject="   ")) == newconv.Refusal("no_subject")
    assert _request(_mail(cc="")) == newconv.Refusal("no_members")
    # The author's own address among the recipients is not a member.
    assert _request(_mail(cc="JEAN.DUPONT@sandbox.mssante.fr")) == newconv.Refusal("no_members")
    only_quote = "\nLe 25/11/2026 à 10:00, SPICO a écrit :\n> cité\n"
    assert _request(_mail(body=only_quote)) == newconv.Refusal("empty")
    many = ", ".join(f"p{i}@sandbox.mssante.fr" for i in range(newconv.MAX_MEMBERS + 1))
    assert _request(_mail(cc=many)) == newconv.Refusal("too_many_members")
    assert _request(_mail(body="Patient : pat-1\nPatient : pat-2\nBonjour")) == newconv.Refusal(
        "several_patients"
    )


def test_a_long_subject_is_cut_to_spico_length() -> None:
    request = _request(_mail(subject="x" * 300))
    assert isinstance(request, newconv.Request)
    assert len(request.subject) == newconv.MAX_SUBJECT_CHARS


def test_attachments_only_gives_a_first_message_naming_them() -> None:
    body = Body("", attachments=(Attachment("bilan.pdf", "application/pdf", b"%PDF"),))
    request = newconv.read_request(
        subject="Résultats",
        addressed=(OWN, "anne.martin@sandbox.mssante.fr"),
        author="jean.dupont@sandbox.mssante.fr",
        body=body,
        own_address=OWN,
    )
    assert isinstance(request, newconv.Request)
    assert request.body == "Pièces jointes : bilan.pdf"
    assert request.attachments == body.attachments


def test_the_sender_must_hold_an_account() -> None:
    assert newconv.sender_problem(None) == newconv.Refusal("sender_unknown")
    assert newconv.sender_problem(_entry("s", kind="structure")) == newconv.Refusal(
        "sender_unknown"
    )
    assert newconv.sender_problem(_entry("p", has_account=False)) == newconv.Refusal(
        "sender_no_account"
    )
    assert newconv.sender_problem(_entry("p")) is None


def test_members_all_or_nothing_with_every_problem_named() -> None:
    addresses = [
        "a@sandbox.mssante.fr",
        "b@gmail.com",
        "c@sandbox.mssante.fr",
        "ehpad@sandbox.mssante.fr",
        "a2@sandbox.mssante.fr",
        "me2@sandbox.mssante.fr",
    ]
    entries = {
        "a@sandbox.mssante.fr": _entry("810000000001"),
        "c@sandbox.mssante.fr": None,
        "ehpad@sandbox.mssante.fr": _entry("1310000001", kind="structure"),
        "a2@sandbox.mssante.fr": _entry("810000000001"),  # the same professional again
        "me2@sandbox.mssante.fr": _entry("810000000009"),  # the sender's other address
    }
    members, problems = newconv.resolve_members(
        addresses,
        entries,
        sender_id="810000000009",
        trusted=lambda a: a.endswith(".mssante.fr"),
    )
    assert members == ["810000000001"]
    assert problems == [
        newconv.AddressProblem("b@gmail.com", "untrusted"),
        newconv.AddressProblem("c@sandbox.mssante.fr", "unknown"),
        newconv.AddressProblem("ehpad@sandbox.mssante.fr", "structure"),
    ]


def test_trust_of_member_addresses_follows_the_sender_rules() -> None:
    def trusted(address: str) -> bool:
        return address.endswith("mssante.fr")

    assert newconv.trusted_address("a@sandbox.mssante.fr", trusted)
    assert not newconv.trusted_address("a@gmail.com", trusted)
    assert not newconv.trusted_address(f"{INS}@patient.mssante.fr", trusted)
    assert newconv.trusted_address(f"{INS}@patient.mssante.fr", trusted, True)


def test_find_patient_by_ins_in_the_active_files() -> None:
    files = [
        PatientEntry("pat-1", "1" * 15, "A", "B", "1950-01-01"),
        PatientEntry("pat-2", INS, "C", "D", "1960-01-01"),
    ]
    assert newconv.find_patient(files, INS) == files[1]
    assert newconv.find_patient(files, "2" * 15) is None


def test_idempotency_key_is_the_message_id_and_fits() -> None:
    assert newconv.idempotency_key("<a@b>") == "mail:new:<a@b>"
    long = newconv.idempotency_key("<" + "x" * 400 + "@b>")
    assert len(long) <= 200 and long == newconv.idempotency_key("<" + "x" * 400 + "@b>")


@given(st.text(max_size=300))
def test_extract_patient_never_fails_and_only_removes_lines(text: str) -> None:
    body, _patient, _problem = newconv.extract_patient(text)
    kept = [line.strip() for line in body.split("\n") if line.strip()]
    original = [line.strip() for line in text.split("\n")]
    assert all(line in original for line in kept)


# --- the confirmation --------------------------------------------------------------------------


def test_the_confirmation_is_the_root_of_the_senders_thread() -> None:
    token = tokens.issue(KEY, "conv_9", "810000000009", NOW.date())
    mail = compose.compose_new_conversation_created(
        key=KEY,
        sender=SENDER,
        recipient="jean.dupont@sandbox.mssante.fr",
        member_id="810000000009",
        conversation_id="conv_9",
        subject="Suivi",
        patient=PatientView("pat-1", "Jeanne", "Dupuis"),
        patient_linked=True,
        members=["Dr Anne MARTIN", "Paul ROUX"],
        original_id="<new-1@client>",
        token=token,
        patient_policy="initials",
        language="fr",
        now=NOW,
    )
    parsed = email.message_from_bytes(mail, policy=email.policy.default)
    assert parsed["Subject"] == "[SPICO] J.D. Suivi"
    assert parsed["Reply-To"].addresses[0].addr_spec == f"bridge+{token}@sandbox.mssante.fr"
    assert parsed["References"].split() == ["<new-1@client>", f"<rt.{token}@sandbox.mssante.fr>"]
    assert parsed["From"].addresses[0].display_name == "SPICO"
    assert parsed["Message-ID"] == compose.message_id(
        KEY, "sandbox.mssante.fr", "created", "conv_9", "810000000009"
    )
    text = parsed.get_body(("plain",)).get_content()
    assert "Dr Anne MARTIN, Paul ROUX" in text and "Répondez à ce message" in text
    # A reply to it is recognised as a reply, not as a new conversation.
    reply, _ = _mail(
        to=str(parsed["Reply-To"]),
        cc="",
        extra=f"In-Reply-To: {parsed['Message-ID']}\r\nReferences: {parsed['References']}\r\n",
    )
    assert not is_new_conversation(reply, "jean.dupont@sandbox.mssante.fr", ThreadLookup(), OWN)
