"""Outbound composition (pure): threading, subject policy, token, MSSanté headers."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime
from email.message import EmailMessage

import pytest

from bridge.core.model import ConversationView
from bridge.core.views import AttachmentView, MessageView, PatientView
from bridge.mail import compose, tokens
from bridge.mail.answers import may_answer
from bridge.mail.assess import AssessContext, MailTrustSettings, assess
from bridge.mail.verdict import Reason, Refused

KEY = b"k" * 48
SENDER = compose.Sender("bridge@sandbox.mssante.fr", "SPICO", "NIL-42", "https://spico.test")
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
CONVERSATION = ConversationView(
    "conv_1", (), "Suivi plaie", patient=PatientView("pat-1", "Jeanne", "Dupuis", "1950-02-03")
)


def _parsed(data: bytes) -> EmailMessage:
    """A composed mail (its wire form) as a mail client reads it."""
    mail = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(mail, EmailMessage)
    return mail


def _raw(thread: compose.Thread | None = None, message_id: str = "msg_1") -> tuple[str, bytes]:
    token = tokens.issue(KEY, "conv_1", "810000000017", NOW.date())
    return token, compose.compose_message(
        key=KEY,
        sender=SENDER,
        recipient="anne.martin@sandbox.mssante.fr",
        recipient_name="Anne MARTIN",
        member_id="810000000017",
        author_name="Dr Jean DUPONT",
        conversation=CONVERSATION,
        message=MessageView(
            message_id, "Bonjour <b>&", attachments=(AttachmentView("f1", "a.pdf", "", 2048),)
        ),
        token=token,
        thread=thread,
        patient_policy="initials",
        now=NOW,
    )


def _compose(
    thread: compose.Thread | None = None, message_id: str = "msg_1"
) -> tuple[str, EmailMessage]:
    token, data = _raw(thread, message_id)
    return token, _parsed(data)


def test_message_headers_and_parts() -> None:
    token, parsed = _compose()
    assert parsed["Subject"] == "[SPICO] J.D. Suivi plaie"
    assert parsed["From"].addresses[0].display_name == "Dr Jean DUPONT (via SPICO)"
    assert parsed["Reply-To"].addresses[0].addr_spec == f"bridge+{token}@sandbox.mssante.fr"
    assert f"<rt.{token}@sandbox.mssante.fr>" in parsed["References"]
    assert parsed["X-MSS-NIL"] == "NIL-42"
    assert "Auto-Submitted" not in parsed
    assert parsed.get_body(("plain",)).get_content().startswith("Bonjour <b>&")
    assert "Bonjour &lt;b&gt;&amp;" in parsed.get_body(("html",)).get_content()
    assert "a.pdf" in parsed.get_body(("plain",)).get_content()
    assert len(f"bridge+{token}") <= 64


def test_message_ids_are_deterministic_and_threads_chain() -> None:
    _, first = _compose()
    _, again = _compose()
    assert first["Message-ID"] == again["Message-ID"]
    root = str(first["Message-ID"])
    _, second = _compose(compose.Thread(root, root), "msg_2")
    _, third = _compose(compose.Thread(root, str(second["Message-ID"])), "msg_3")
    assert second["In-Reply-To"] == root and third["In-Reply-To"] == second["Message-ID"]
    assert str(third["References"]).startswith(f"{root} {second['Message-ID']}")
    assert str(third["Subject"]).startswith("Re: [SPICO]")


def test_subject_line_carries_the_core_patient_tag_on_one_line() -> None:
    patient = CONVERSATION.patient
    assert compose.subject_line("Plaie", patient, "initials") == "[SPICO] J.D. Plaie"
    assert compose.subject_line("Plaie", patient, "none") == "[SPICO] Plaie"
    assert compose.subject_line("Plaie", patient, "full") == "[SPICO] Jeanne DUPUIS Plaie"
    assert compose.subject_line("x\r\nBcc: y", None, "initials") == "[SPICO] x Bcc: y"


def test_notification_is_automatic_mail_from_the_french_template() -> None:
    template = compose.load_template(None, "notification", "fr")
    mail = _parsed(
        compose.compose_notification(
            key=KEY,
            sender=SENDER,
            recipient="a@sandbox.mssante.fr",
            recipient_name=None,
            member_id="810000000017",
            conversation=CONVERSATION,
            messages=[
                compose.NotifiedMessage("Dr Jean DUPONT", "Pouvez-vous passer ?", "2026-11-25")
            ],
            source="seq-1",
            token="a" * 32,
            thread=None,
            patient_policy="initials",
            template=template,
            now=NOW,
        )
    )
    assert mail["Auto-Submitted"] == "auto-generated"
    assert mail["X-Auto-Response-Suppress"] == "All"
    assert mail["Subject"] == "[SPICO] J.D. Suivi plaie"
    text = mail.get_body(("plain",)).get_content()
    assert "Dr Jean DUPONT souhaite vous joindre" in text
    assert "https://spico.test/conversations/conv_1" in text
    assert "Répondez à ce message pour répondre dans la conversation." in text


def test_english_fallback_template(tmp_path) -> None:
    assert "wants to reach you" in compose.load_template(tmp_path, "notification", "en")


def test_templates_follow_the_language_as_every_text_does(tmp_path) -> None:
    """The admin's template in the bridge's language, else the built-in one in that language;
    French (the source) for a language the bridge does not speak."""
    (tmp_path / "notification.en.txt").write_text("Subject: custom\nEnglish $who", "utf-8")
    assert compose.load_template(tmp_path, "notification", "en").endswith("English $who")
    assert "souhaite vous joindre" in compose.load_template(tmp_path, "notification", "fr")
    assert "souhaite vous joindre" in compose.load_template(None, "notification", "es")
    (tmp_path / "notification.fr.txt").write_text("Subject: perso\nFrançais $who", "utf-8")
    assert compose.load_template(tmp_path, "notification", "fr").endswith("Français $who")
    assert compose.load_template(tmp_path, "notification", "en").endswith("English $who")


def test_the_lines_the_bridge_adds_to_a_mail_follow_its_language() -> None:
    mail = _parsed(
        compose.compose_message(
            key=KEY,
            sender=SENDER,
            recipient="a@sandbox.mssante.fr",
            recipient_name=None,
            member_id="810000000017",
            author_name="Dr Jean DUPONT",
            conversation=CONVERSATION,
            message=MessageView(
                "msg_1", "Hello", attachments=(AttachmentView("f1", "a.pdf", "", 0),)
            ),
            token="a" * 32,
            thread=None,
            patient_policy="initials",
            now=NOW,
            language="en",
        )
    )
    text = mail.get_body(("plain",)).get_content()
    assert "Attachments (in SPICO):\n- a.pdf (1 KB)" in text
    assert "-- \nReply to this mail to answer in the SPICO conversation.\n" in text
    stop = f"bridge+stop.{'a' * 32}@sandbox.mssante.fr"
    assert f"Stop receiving this conversation by mail: write to {stop}" in text
    assert f"by mail: write to bridge+all.{'a' * 32}@" in text
    assert mail["List-Unsubscribe"] == f"<mailto:{stop}>"


def test_our_own_mail_read_back_is_a_loop() -> None:
    _, mail = _raw()
    settings = MailTrustSettings(SENDER.address)
    verdict = assess(mail, AssessContext(settings, KEY, NOW.date(), lambda a: True))
    assert verdict == Refused(Reason.LOOP, SENDER.address) and not may_answer(verdict)


def test_an_answer_carries_the_bridges_words_only_and_is_automatic() -> None:
    answer = compose.compose_answer(
        key=KEY,
        sender=SENDER,
        recipient="anne.martin@sandbox.mssante.fr",
        kind="refusal",
        source="<their-mail@client>",
        subject="Message non transmis à SPICO",
        text="Bonjour,\n\nNon transmis.\n",
        now=NOW,
    )
    parsed = _parsed(answer)
    assert parsed["Subject"] == "Message non transmis à SPICO"
    assert parsed["Auto-Submitted"] == "auto-replied" and parsed["X-MSS-NIL"] == "NIL-42"
    assert b"their-mail" not in answer, "not even threaded to the sender's mail"
    assert parsed["Message-ID"] == compose.message_id(
        KEY, SENDER.domain, "refusal", "<their-mail@client>", "anne.martin@sandbox.mssante.fr"
    )


def test_a_missing_template_is_a_clear_error(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(compose, "DEFAULT_TEMPLATES", tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="notification"):
        compose.load_template(None, "notification", "fr")
