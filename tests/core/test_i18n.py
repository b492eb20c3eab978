"""The catalog mechanism: a broken catalog cannot be built, a text never raises at run time."""

from __future__ import annotations

import logging
from datetime import datetime

import pytest

from bridge.core.i18n import Catalog, Message, choose, fallbacks, placeholders

CATALOG = Catalog(
    {
        "hello": Message(fr="Bonjour {name} !", en="Hello {name}!"),
        "when": Message(
            fr="{moment:%d/%m/%Y} à {moment:%H:%M}", en="{moment:%Y-%m-%d} at {moment:%H:%M}"
        ),
        "braces": Message(fr="{{littéral}} {x}", en="{{literal}} {x}"),
    }
)


def test_a_text_in_each_language_and_french_for_any_other() -> None:
    assert CATALOG.text("fr", "hello", name="Léa") == "Bonjour Léa !"
    assert CATALOG.text("en", "hello", name="Léa") == "Hello Léa!"
    assert CATALOG.text("de", "hello", name="Léa") == "Bonjour Léa !"
    assert CATALOG.text(None, "hello", name="Léa") == "Bonjour Léa !"
    assert CATALOG.text("fr", "braces", x=1) == "{littéral} 1"


def test_dates_are_written_as_each_language_writes_them() -> None:
    moment = datetime(2026, 1, 2, 3, 4)
    assert CATALOG.text("fr", "when", moment=moment) == "02/01/2026 à 03:04"
    assert CATALOG.text("en", "when", moment=moment) == "2026-01-02 at 03:04"


def test_a_missing_value_stays_visible_and_is_logged_without_values(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR, logger="bridge.core.i18n"):
        assert CATALOG.text("fr", "hello") == "Bonjour {name} !"
    assert "'hello'" in caplog.text and "name" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="bridge.core.i18n"):
        CATALOG.text("fr", "hello", name="Jeanne DUPONT")
    assert caplog.text == ""


def test_a_value_its_format_does_not_fit_is_shown_plainly() -> None:
    assert CATALOG.text("en", "when", moment="tomorrow") == "tomorrow at tomorrow"


def test_find_says_none_for_a_key_from_outside() -> None:
    assert CATALOG.find("en", "hello", name="x") == "Hello x!"
    assert CATALOG.find("en", "status_zzz") is None
    with pytest.raises(KeyError):
        CATALOG.text("fr", "status_zzz")


@pytest.mark.parametrize(
    ("message", "problem"),
    [
        (Message(fr="Bonjour {name}", en="Hello {who}"), "differ in placeholders"),
        (Message(fr="Bonjour {name}", en="Hello"), "differ in placeholders"),
        (Message(fr="Bonjour {", en="Hello {"), "Single '{'"),
        (Message(fr="Bonjour {a.b}", en="Hello {a.b}"), "plain names"),
        (Message(fr="Bonjour {}", en="Hello {}"), "plain names"),
        (Message(fr="Bonjour", en=""), "no en text"),
    ],
)
def test_a_broken_catalog_cannot_be_built(message: Message, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        Catalog({"broken": message})


def test_both_languages_are_required() -> None:
    with pytest.raises(TypeError):
        Message(fr="Bonjour")  # type: ignore[call-arg]


def test_language_selection() -> None:
    assert choose("en") == "en"
    assert choose("fr") == "fr"
    assert choose("es") == "fr"
    assert fallbacks("en") == ("en", "fr")
    assert fallbacks("fr") == ("fr",)
    assert fallbacks("es") == ("fr",)
    assert placeholders("{a:%d} {b} {{c}}") == {"a", "b"}
