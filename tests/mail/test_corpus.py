"""The inbound corpus: every mail gets its expected verdict, author and extracted text."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.mail import parse, tokens
from tests.mail.corpus import make_corpus as corpus

CORPUS = Path(__file__).resolve().parent / "corpus"
INDEX = yaml.safe_load((CORPUS / "index.yaml").read_text(encoding="utf-8"))
MAX_ATTACHMENT = 2000


def trusted(address: str) -> bool:
    return address.rpartition("@")[2].endswith(".mssante.fr")


def lookup() -> parse.Lookup:
    conversation = corpus.CONVERSATION
    anne = (conversation, corpus.ANNE)
    bruno = (conversation, corpus.BRUNO)
    return parse.Lookup(
        messages={corpus.SENT_ID: anne},
        handles={
            tokens.thread_handle(*anne): anne,
            tokens.thread_handle(*bruno): bruno,
        },
        subjects={parse.normalise_subject(corpus.SUBJECT): anne},
        members={conversation: {corpus.ANNE_ADDR: corpus.ANNE, corpus.BRUNO_ADDR: corpus.BRUNO}},
    )


def judge(raw: bytes) -> tuple[parse.MailFacts, parse.Judgement]:
    facts = parse.read_mail(raw, max_attachment_bytes=MAX_ATTACHMENT)
    return facts, parse.judge(
        facts,
        lookup(),
        key=corpus.KEY,
        today=corpus.TODAY,
        own_address=corpus.OWN,
        is_trusted=trusted,
    )


def test_corpus_is_large_and_varied() -> None:
    assert len(INDEX) >= 40
    verdicts = {case["verdict"] for case in INDEX}
    assert verdicts == {"accepted", "auto_reply", "bounce", "refused"}


@pytest.mark.parametrize("case", INDEX, ids=[case["file"] for case in INDEX])
def test_corpus_mail(case: dict) -> None:
    facts, judgement = judge((CORPUS / case["file"]).read_bytes())
    assert judgement.verdict.value == case["verdict"], judgement
    assert judgement.reason == case["reason"]
    if case["member"] is not None:
        assert judgement.member_id == case["member"]
    if case["verdict"] == "accepted":
        assert judgement.conversation_id == corpus.CONVERSATION
        assert judgement.text == case["text"]
        assert len(judgement.attachments) == case["attachments"]
    if case["verdict"] == "bounce":
        assert facts.bounced_recipients and facts.bounced_message_id == corpus.SENT_ID


def test_the_corpus_files_are_what_the_generator_writes(tmp_path: Path) -> None:
    names = sorted(p.name for p in CORPUS.glob("*.eml"))
    assert names == sorted(case["file"] for case in INDEX)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=4000))
def test_random_bytes_never_crash_the_parser(raw: bytes) -> None:
    judge(raw)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                b"From: a@b.mssante.fr\r\n",
                b"Content-Type: multipart/mixed; boundary=x\r\n",
                b"Content-Type: text/html; charset=unknown-8\r\n",
                b"Content-Transfer-Encoding: base64\r\n",
                b"Content-Transfer-Encoding: quoted-printable\r\n",
                b"References: <rt.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@x>\r\n",
                b"To: bridge+" + b"a" * 32 + b"@sandbox.mssante.fr\r\n",
                b"Content-Type: multipart/report; report-type=delivery-status\r\n",
                b"\r\n",
                b"--x\r\n",
                b"=C3=A9=\r\n",
                b"<div class=gmail_quote>",
                b"\xff\xfe\x00",
            ]
        ),
        max_size=30,
    )
)
def test_mail_shaped_garbage_never_crashes_the_parser(pieces: list[bytes]) -> None:
    judge(b"".join(pieces))
