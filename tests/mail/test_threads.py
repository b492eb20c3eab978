"""A reply token authenticates its holder only, while the holder is a member."""

from __future__ import annotations

from bridge.mail import tokens
from bridge.mail.envelope import Envelope, read_envelope
from bridge.mail.threads import (
    ThreadLookup,
    ThreadMatch,
    find_thread,
    is_new_conversation,
    mail_action,
    member_addresses,
    normalise_subject,
)
from bridge.mail.verdict import Reason
from tests.mail.corpus import make_corpus as world

ANNE = (world.CONVERSATION, world.ANNE)
LOOKUP = ThreadLookup(
    handles={tokens.thread_handle(*ANNE): ANNE},
    members={world.CONVERSATION: {world.ANNE_ADDR: world.ANNE, world.BRUNO_ADDR: world.BRUNO}},
    subjects={normalise_subject(world.SUBJECT): ANNE},
)


def envelope(to: str, references: str = "", subject: str = "Re: x") -> Envelope:
    raw = (
        f"From: a@b.fr\r\nTo: {to}\r\nSubject: {subject}\r\nReferences: {references}\r\n\r\nx"
    ).encode()
    found = read_envelope(raw)
    assert isinstance(found, Envelope)
    return found


def find(env: Envelope, author: str, lookup: ThreadLookup = LOOKUP) -> ThreadMatch | Reason:
    return find_thread(env, author, lookup, key=world.KEY, today=world.TODAY, own_address=world.OWN)


def test_the_holder_alone_may_use_the_token() -> None:
    reply = envelope(world.REPLY_TO)
    assert find(reply, world.ANNE_ADDR) == ThreadMatch(*ANNE)
    assert find(reply, world.BRUNO_ADDR) is Reason.NOT_TOKEN_HOLDER
    assert find(reply, "eve@autre.mssante.fr") is Reason.NOT_TOKEN_HOLDER
    by_reference = envelope(world.OWN, f"<rt.{world.VALID}@sandbox.mssante.fr>")
    assert find(by_reference, world.ANNE_ADDR) == ThreadMatch(*ANNE)


def test_a_removed_member_token_no_longer_works() -> None:
    removed = ThreadLookup(
        handles=LOOKUP.handles, members={world.CONVERSATION: {world.BRUNO_ADDR: world.BRUNO}}
    )
    assert find(envelope(world.REPLY_TO), world.ANNE_ADDR, removed) is Reason.MEMBER_REMOVED


def test_an_action_address_carries_the_token_and_the_holder_alone_may_use_it() -> None:
    for action in ("stop", "follow", "all"):
        asked = envelope(f"bridge+{action}.{world.VALID}@sandbox.mssante.fr")
        assert mail_action(asked, world.OWN) == action
        assert find(asked, world.ANNE_ADDR) == ThreadMatch(*ANNE)
        assert find(asked, world.BRUNO_ADDR) is Reason.NOT_TOKEN_HOLDER
        assert not is_new_conversation(asked, world.ANNE_ADDR, LOOKUP, world.OWN)
    assert mail_action(envelope(world.REPLY_TO), world.OWN) is None
    unknown = envelope(f"bridge+nope.{world.VALID}@sandbox.mssante.fr")
    assert mail_action(unknown, world.OWN) is None
    assert find(unknown, world.ANNE_ADDR) is Reason.NO_TOKEN
    forged = envelope(f"bridge+stop.{world.FORGED}@sandbox.mssante.fr")
    assert find(forged, world.ANNE_ADDR) is Reason.FORGED_TOKEN


def test_forged_expired_and_missing_tokens() -> None:
    forged = envelope(f"bridge+{world.FORGED}@sandbox.mssante.fr")
    assert find(forged, world.ANNE_ADDR) is Reason.FORGED_TOKEN
    expired = envelope(f"bridge+{world.EXPIRED}@sandbox.mssante.fr")
    assert find(expired, world.ANNE_ADDR) is Reason.EXPIRED_TOKEN
    assert find(envelope(world.OWN), world.ANNE_ADDR) is Reason.NO_TOKEN


def test_new_conversations_are_new_mails_to_the_bridge() -> None:
    new = envelope(f"{world.OWN}, {world.BRUNO_ADDR}", subject="Plaie")
    assert is_new_conversation(new, world.ANNE_ADDR, LOOKUP, world.OWN)
    answer = envelope(world.OWN, world.SENT_ID)
    assert not is_new_conversation(answer, world.ANNE_ADDR, LOOKUP, world.OWN)
    lost_headers = envelope(world.OWN, subject="RE: " + world.SUBJECT)
    assert not is_new_conversation(lost_headers, world.ANNE_ADDR, LOOKUP, world.OWN)
    assert not is_new_conversation(envelope(world.BRUNO_ADDR), world.ANNE_ADDR, LOOKUP, world.OWN)


def test_replies_and_token_addresses_are_not_new_conversations() -> None:
    cc = f"{world.OWN}, {world.BRUNO_ADDR}"

    def new(to: str = cc, references: str = "", lookup: ThreadLookup = LOOKUP) -> bool:
        return is_new_conversation(
            envelope(to, references, "Suivi"), world.ANNE_ADDR, lookup, world.OWN
        )

    assert new()
    assert not new(f"{world.REPLY_TO}, {world.BRUNO_ADDR}")
    assert not new(f"bridge+whatever@sandbox.mssante.fr, {world.BRUNO_ADDR}")
    assert not new(references=f"<rt.{world.VALID}@sandbox.mssante.fr>")
    assert not new(references="<spico.0123456789abcdef@sandbox.mssante.fr>")
    known = ThreadLookup(messages={"<something@client>": ANNE})
    assert not new(references="<something@client>", lookup=known)
    # An unrelated reference (a thread between professionals) does not make it a reply.
    assert new(references="<a@elsewhere>")
    # A reply whose client lost every header, matched by subject, naming nobody else.
    alone = envelope(world.OWN, subject="Re: " + world.SUBJECT)
    assert not is_new_conversation(alone, world.ANNE_ADDR, LOOKUP, world.OWN)
    assert is_new_conversation(alone, world.ANNE_ADDR, ThreadLookup(), world.OWN)


def test_member_addresses_exclude_the_bridge_and_the_author() -> None:
    addressed = (
        world.OWN,
        world.ANNE_ADDR,
        "bridge+x@sandbox.mssante.fr",
        world.BRUNO_ADDR.upper(),
        "paul.roux@sandbox.mssante.fr",
        world.BRUNO_ADDR,
    )
    assert member_addresses(addressed, world.ANNE_ADDR, world.OWN) == [
        world.BRUNO_ADDR,
        "paul.roux@sandbox.mssante.fr",
    ]
