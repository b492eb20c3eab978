"""Pure: what a Matrix event asks the bridge to do, and who may speak."""

from __future__ import annotations

from bridge.matrix.inbound import CheckMember, Ignore, Refuse, Relay, classify, verdict

BOT = "@bot:localhost"


def _message(sender: str, **content: object) -> dict[str, object]:
    return {"type": "m.room.message", "sender": sender, "event_id": "$e", "content": content}


def test_text_is_relayed_and_the_bots_own_is_ignored() -> None:
    assert classify(_message("@a:x", msgtype="m.text", body="hi"), BOT) == Relay("@a:x", "hi")
    assert classify(_message(BOT, msgtype="m.text", body="hi"), BOT) == Ignore()
    assert classify(_message("@a:x", msgtype="m.notice", body="bot"), BOT) == Ignore()


def test_edits_redactions_and_unknown_types_get_a_notice() -> None:
    edit = _message(
        "@a:x", msgtype="m.text", body="* new", **{"m.relates_to": {"rel_type": "m.replace"}}
    )
    assert classify(edit, BOT) == Refuse("@a:x", "edit")
    redaction = {"type": "m.room.redaction", "sender": "@a:x", "redacts": "$e", "content": {}}
    assert classify(redaction, BOT) == Refuse("@a:x", "redaction")
    assert classify(_message("@a:x", msgtype="m.location", body="geo"), BOT) == Refuse(
        "@a:x", "unsupported"
    )


def test_files_are_relayed_with_their_media() -> None:
    action = classify(
        _message(
            "@a:x",
            msgtype="m.file",
            body="cr.pdf",
            url="mxc://h/m",
            info={"mimetype": "application/pdf"},
        ),
        BOT,
    )
    assert action == Relay("@a:x", "", "mxc://h/m", "cr.pdf", "application/pdf")


def test_member_events_of_others_are_checked() -> None:
    def member(user: str, membership: str) -> dict[str, object]:
        return {
            "type": "m.room.member",
            "sender": BOT,
            "state_key": user,
            "content": {"membership": membership},
        }

    assert classify(member("@s:x", "join"), BOT) == CheckMember("@s:x")
    assert classify(member("@s:x", "invite"), BOT) == CheckMember("@s:x")
    assert classify(member("@s:x", "leave"), BOT) == Ignore()
    assert classify(member(BOT, "join"), BOT) == Ignore()


def test_verdict_needs_a_mapping_and_membership() -> None:
    mapping = {"@a:x": "81", "@b:x": "82"}
    assert verdict("@a:x", ("81",), mapping) == ("ok", "81")
    assert verdict("@b:x", ("81",), mapping) == ("not_member", None)
    assert verdict("@z:x", ("81",), mapping) == ("unmapped", None)


def test_commands_are_answered_not_relayed() -> None:
    from bridge.matrix.inbound import Command

    assert classify(_message("@a:x", msgtype="m.text", body="!spico membres"), BOT) == Command(
        "@a:x", "membres"
    )
    assert classify(_message("@a:x", msgtype="m.text", body="!spico"), BOT) == Command(
        "@a:x", "help"
    )
    assert classify(_message("@a:x", msgtype="m.text", body="!spicool"), BOT) == Relay(
        "@a:x", "!spicool"
    )
