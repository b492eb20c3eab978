"""Pure: patient tags, room names, sender headers, HTML escaping, topics and notices."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bridge.matrix.formatting import (
    Person,
    message_content,
    notice_content,
    room_name,
    sender_header,
    topic,
)


def test_room_name_prefixes_the_tag() -> None:
    assert room_name("Suivi  plaie", "J.D.") == "[J.D.] Suivi plaie"
    assert room_name("Suivi plaie", None) == "Suivi plaie"
    assert room_name("  ", None) == "(sans sujet)"
    assert room_name("  ", "J.D.", "en") == "[J.D.] (no subject)"


def test_sender_header_has_civility_name_and_profession() -> None:
    author = Person("810000000001", "Dr", "Jean", "Dupont", "Médecin généraliste")
    assert sender_header(author) == "Dr Jean DUPONT — Médecin généraliste"
    secretary = Person("810000000002", "Mme", "Léa", "Martin", "Secrétaire médicale")
    assert sender_header(author, secretary) == (
        "Dr Jean DUPONT — Médecin généraliste (par Mme Léa MARTIN)"
    )
    assert sender_header(Person("810000000003")) == "810000000003"
    assert sender_header(author, secretary, "en") == (
        "Dr Jean DUPONT — Médecin généraliste (by Mme Léa MARTIN)"
    )


def test_message_content_escapes_html_and_keeps_plain_body() -> None:
    content = message_content("Dr A <B>", "x < y & <script>alert(1)</script>\nligne 2")
    assert content["msgtype"] == "m.text"
    assert content["body"] == "Dr A <B>\nx < y & <script>alert(1)</script>\nligne 2"
    html = content["formatted_body"]
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<strong>Dr A &lt;B&gt;</strong>" in html and "<br>ligne 2" in html
    assert message_content(None, "avis", notice=True)["msgtype"] == "m.notice"


@given(st.text())
def test_formatted_body_never_carries_raw_markup(text: str) -> None:
    html = message_content("h", text)["formatted_body"]
    stripped = html.replace("<p>", "").replace("</p>", "").replace("<br>", "")
    stripped = stripped.replace("<strong>", "").replace("</strong>", "")
    assert "<" not in stripped and ">" not in stripped


def test_attachments_are_named_when_not_carried() -> None:
    content = message_content("h", "voir pj", attachments=["cr.pdf"])
    assert "cr.pdf" in content["body"] and "cr.pdf" in content["formatted_body"]


def test_topic_lists_members_with_statuses() -> None:
    members = [
        Person("1", "Dr", "Ana", "Roux", "Médecin", "online"),
        Person("2", "M.", "Luc", "Blanc", "Infirmier", "inactive"),
    ]
    text = topic("Suivi", "J.D.", members)
    assert "Sujet : Suivi" in text and "Patient : J.D." in text
    assert "Dr Ana ROUX (en ligne)" in text and "M. Luc BLANC (inactif)" in text
    assert "Patient" not in topic("Suivi", None, members)
    assert "(away)" in topic("Suivi", None, [Person("3", status="absent")], "en")


def test_notice_content_is_an_escaped_notice() -> None:
    content = notice_content("a <b>")
    assert content["msgtype"] == "m.notice" and content["formatted_body"] == "a &lt;b&gt;"


def test_back_filled_messages_say_their_time_in_relay_mode_and_ghosts_have_names() -> None:
    from bridge.matrix.formatting import (
        ghost_display_name,
        history_header,
        presence_of,
        sent_at,
    )

    sent = sent_at("2026-11-25T09:30:00+01:00")
    assert sent is not None and sent.hour == 8 and sent_at("hier") is None
    assert history_header("Dr Jean DUPONT — Médecin", sent) == (
        "Dr Jean DUPONT — Médecin · 25/11/2026 à 08:30 (UTC)"
    )
    assert history_header("Dr X", sent, "en") == "Dr X · 2026-11-25 08:30 (UTC)"
    person = Person("810001234567", "Dr", "Jean", "Dupont", "Médecin généraliste")
    assert ghost_display_name(person) == "Dr Jean DUPONT (Médecin généraliste)"
    assert ghost_display_name(Person("810001234567")) == "810001234567"
    assert presence_of("online") == ("online", None)
    assert presence_of("active") == ("unavailable", "actif")
    assert presence_of("absent", "en")[0] == "offline"
    assert presence_of("inactive")[0] == presence_of(None)[0] == "offline"
