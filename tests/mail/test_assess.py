"""The pipeline over the inbound corpus, and its order: trust before work."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.mail import assess as assess_module
from bridge.mail.assess import AssessContext, MailTrustSettings, assess
from bridge.mail.author import AuthorProblem
from bridge.mail.body import BodyProblem
from bridge.mail.envelope import EnvelopeProblem, header_fields, read_envelope
from bridge.mail.limits import MailLimits
from bridge.mail.verdict import (
    Accepted,
    Automatic,
    Bounce,
    NewConversation,
    Reason,
    RefusalReason,
    Refused,
)
from tests.mail.corpus import make_corpus as world
from tests.mail.test_hostile import lookup, sent_to, trusted

CORPUS = Path(__file__).resolve().parent / "corpus"
INDEX = yaml.safe_load((CORPUS / "index.yaml").read_text(encoding="utf-8"))
#: Where the pipeline's verdict differs from the old judge's (index.yaml), and why.
CHANGED = {
    # A new mail naming the bridge: a new conversation (the old judge said no_token first).
    "42-no-token-new-mail.eml": ("NewConversation", None),
    # A stranger holding Anne's token: tokens authenticate their holder only.
    "45-spoofed-from-stranger.eml": ("Refused", "not_token_holder"),
    "51-other-member-with-forwarded-token.eml": ("Refused", "not_token_holder"),
    "47-patient-mailbox.eml": ("Refused", "patient_mailbox"),
    "50-no-from-header.eml": ("Refused", "no_from"),
}
KINDS = {"accepted": "Accepted", "auto_reply": "Automatic", "bounce": "Bounce"}


def context(limits: MailLimits | None = None) -> AssessContext:
    settings = MailTrustSettings(world.OWN, limits=limits or MailLimits(max_attachment_bytes=2000))
    return AssessContext(settings, world.KEY, world.TODAY, trusted, lookup, sent_to)


@pytest.mark.parametrize("case", INDEX, ids=[case["file"] for case in INDEX])
def test_corpus_mail(case: dict) -> None:
    verdict = assess((CORPUS / case["file"]).read_bytes(), context())
    kind, reason = CHANGED.get(
        case["file"], (KINDS.get(case["verdict"], "Refused"), case["reason"])
    )
    assert type(verdict).__name__ == kind, verdict
    if isinstance(verdict, Refused):
        assert verdict.reason.value == reason
    if isinstance(verdict, Accepted):
        assert verdict.conversation_id == world.CONVERSATION
        assert verdict.member_id == case["member"]
        assert verdict.body.text == case["text"]
        assert len(verdict.body.attachments) == case["attachments"]
    if isinstance(verdict, Bounce):
        assert verdict.match.original_message_id == world.SENT_ID


def test_no_body_work_before_the_author_and_the_token(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*_args: object) -> None:
        raise AssertionError("the body was read before the trust checks")

    monkeypatch.setattr(assess_module, "read_body", forbidden)
    for name in ("45-spoofed-from-stranger.eml", "46-untrusted-domain.eml", "40-forged-token.eml"):
        assert isinstance(assess((CORPUS / name).read_bytes(), context()), Refused)
    assert isinstance(assess((CORPUS / "29-auto-submitted.eml").read_bytes(), context()), Automatic)


def test_refusals_say_whom_the_bridge_may_answer() -> None:
    forged = assess((CORPUS / "40-forged-token.eml").read_bytes(), context())
    assert isinstance(forged, Refused) and forged.answerable and forged.author
    outsider = assess((CORPUS / "46-untrusted-domain.eml").read_bytes(), context())
    assert isinstance(outsider, Refused) and not outsider.answerable


def test_a_new_conversation_carries_its_request() -> None:
    verdict = assess((CORPUS / "42-no-token-new-mail.eml").read_bytes(), context())
    assert isinstance(verdict, NewConversation)
    assert world.OWN in verdict.addressed and verdict.body.text


def test_caps_come_before_parsing() -> None:
    raw = (CORPUS / "01-thunderbird-fr.eml").read_bytes()
    small = context(MailLimits(max_mail_bytes=100))
    assert assess(raw, small) == Refused(EnvelopeProblem.TOO_LARGE)
    header = context(MailLimits(max_header_bytes=50))
    assert assess(raw, header) == Refused(EnvelopeProblem.HEADER_TOO_LARGE)


def test_header_fields_are_split_as_an_mta_splits_them() -> None:
    block = (
        b"From x@y Mon Jan  1 10:00:00 2026\r\nFrom: a@x.fr\r\nFrom : b@y.fr\r\n"
        b"Subject: one\r\n two\r\nbroken line\r\nTo: c@z.fr\r\n"
    )
    assert header_fields(block) == [
        ("From", "a@x.fr"),
        ("From", "b@y.fr"),
        ("Subject", "one two"),
    ]


def test_the_envelope_reads_references_recipients_and_flags() -> None:
    reply = read_envelope((CORPUS / "52-token-only-in-references.eml").read_bytes())
    assert not isinstance(reply, str)
    assert reply.references[0] == world.SENT_ID and len(reply.references) == 2
    assert not reply.automatic and not reply.delivery_report
    copied = read_envelope((CORPUS / "54-token-in-cc.eml").read_bytes())
    assert not isinstance(copied, str)
    assert any(r.startswith("bridge+") for r in copied.addressed)
    automatic = read_envelope((CORPUS / "29-auto-submitted.eml").read_bytes())
    assert not isinstance(automatic, str) and automatic.automatic
    report = read_envelope((CORPUS / "38-dsn-postfix.eml").read_bytes())
    assert not isinstance(report, str) and report.delivery_report


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=4000))
def test_random_bytes_get_a_verdict(raw: bytes) -> None:
    assert type(assess(raw, context())).__name__ in (
        "Accepted",
        "NewConversation",
        "Refused",
        "Automatic",
        "Bounce",
    )


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                b"From: Anne Martin <anne.martin@sandbox.mssante.fr>\r\n",
                b"From: eve@autre.mssante.fr\r\n",
                b"To: bridge+" + world.VALID.encode() + b"@sandbox.mssante.fr\r\n",
                b"References: <rt." + world.VALID.encode() + b"@sandbox.mssante.fr>\r\n",
                b"Content-Type: multipart/mixed; boundary=x\r\n",
                b"Content-Type: multipart/report; report-type=delivery-status; boundary=x\r\n",
                b"Content-Type: text/html; charset=unknown-8\r\n",
                b"Content-Transfer-Encoding: base64\r\n",
                b"Content-Transfer-Encoding: quoted-printable\r\n",
                b"Auto-Submitted: auto-replied\r\n",
                b"\r\n",
                b"--x\r\n",
                b"=C3=A9=\r\n",
                b"<div class=gmail_quote><div <blockquote>",
                b"Le 1/2/2026, X a \xc3\xa9crit :\r\n> q\r\n",
                b"\xff\xfe\x00",
            ]
        ),
        max_size=40,
    )
)
def test_mail_shaped_garbage_gets_a_verdict(pieces: list[bytes]) -> None:
    verdict = assess(b"".join(pieces), context())
    assert isinstance(verdict, Accepted | NewConversation | Refused | Automatic | Bounce)


def test_every_refusal_reason_has_its_own_value() -> None:
    """The readers' problems and the inbox's reasons share one audited vocabulary."""
    kinds = get_args(RefusalReason)
    assert set(kinds) == {AuthorProblem, BodyProblem, EnvelopeProblem, Reason}
    values = [reason.value for reasons in kinds for reason in reasons]
    assert len(values) == len(set(values))
