"""One way to speak two languages (pure): every text a user reads is a catalog message.

Each world declares its messages in one module (``bridge/matrix/texts.py``,
``bridge/mail/texts.py``, ``bridge/hub/texts.py``) as a ``Catalog`` of ``Message(fr=…, en=…)``:
French is the source, and a message cannot be declared without its English. A catalog checks
itself when it is built (at import, so a broken one stops the bridge before it runs, and the
test suite): both languages carry the same ``{placeholders}``, plain names only. Formatting never
raises at run time: a value the caller forgot leaves ``{name}`` in the text and logs the key,
never the values. Language-dependent typography (the French space before ``:``) and date formats
(``{moment:%d/%m/%Y}``) are part of the messages, so code never branches on a language.
"""

from __future__ import annotations

import logging
import string
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

log = logging.getLogger(__name__)

Language = Literal["fr", "en"]
#: The language every message is written in first, and the one spoken when asked for another.
SOURCE_LANGUAGE: Language = "fr"
LANGUAGES: tuple[Language, ...] = ("fr", "en")


def choose(language: str | None) -> Language:
    """The language to speak: the one asked for when the bridge speaks it, else French."""
    if language == "en":
        return "en"
    return SOURCE_LANGUAGE


def fallbacks(language: str | None) -> tuple[Language, ...]:
    """Where to look, in order, for a text kept outside the catalogs (mail templates): the
    chosen language, then the source."""
    chosen = choose(language)
    return (chosen,) if chosen == SOURCE_LANGUAGE else (chosen, SOURCE_LANGUAGE)


@dataclass(frozen=True, slots=True)
class Message:
    """One text in French (the source) and English: both are required."""

    fr: str
    en: str

    def in_language(self, language: Language) -> str:
        return self.fr if language == "fr" else self.en


class _Missing:
    """A placeholder the caller gave no value for."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name


class _Formatter(string.Formatter):
    """``str.format`` that never raises on a value: a missing one stays ``{name}``, a value a
    format spec does not fit is shown plainly."""

    def get_value(self, key: int | str, args: Any, kwargs: Mapping[str, Any]) -> Any:
        if isinstance(key, str) and key in kwargs:
            return kwargs[key]
        return _Missing(str(key))

    def format_field(self, value: Any, format_spec: str) -> str:
        if isinstance(value, _Missing):
            return "{" + value.name + "}"
        try:
            return format(value, format_spec)
        except (TypeError, ValueError):
            return str(value)


_FORMATTER = _Formatter()


def placeholders(template: str) -> frozenset[str]:
    """The ``{names}`` a template uses (format specs aside). Raises ValueError on a broken
    template (an unmatched brace)."""
    return frozenset(field for _, field, _, _ in _FORMATTER.parse(template) if field is not None)


class Catalog:
    """One world's messages by key; ``text(language, key, **values)`` says one."""

    def __init__(self, messages: Mapping[str, Message]) -> None:
        problems = [
            problem for key, message in messages.items() for problem in _problems(key, message)
        ]
        if problems:
            raise ValueError("broken message catalog: " + "; ".join(problems))
        self._messages = dict(messages)

    def __contains__(self, key: object) -> bool:
        return key in self._messages

    def __iter__(self) -> Iterator[str]:
        return iter(self._messages)

    def __len__(self) -> int:
        return len(self._messages)

    def message(self, key: str) -> Message:
        return self._messages[key]

    def text(self, language: str | None, key: str, **values: object) -> str:
        """The message ``key`` in ``language`` (French when the bridge does not speak it), its
        placeholders filled. An unknown key is a programming error (KeyError)."""
        template = self._messages[key].in_language(choose(language))
        missing = placeholders(template) - values.keys()
        if missing:
            log.error("text %r lacks %s", key, ", ".join(sorted(missing)))
        return _FORMATTER.vformat(template, (), values)

    def find(self, language: str | None, key: str, **values: object) -> str | None:
        """Like ``text``, but None for a key the catalog does not have (a code from outside:
        a SPICO refusal code, a status)."""
        if key not in self._messages:
            return None
        return self.text(language, key, **values)


def _problems(key: str, message: Message) -> list[str]:
    found: dict[str, frozenset[str]] = {}
    for language in LANGUAGES:
        template = message.in_language(language)
        if not isinstance(template, str) or not template:
            return [f"{key}: no {language} text"]
        try:
            found[language] = placeholders(template)
        except ValueError as exc:
            return [f"{key} ({language}): {exc}"]
    problems = []
    for language, names in found.items():
        odd = sorted(name for name in names if not name.isidentifier())
        if odd:
            problems.append(f"{key} ({language}): placeholders must be plain names: {odd}")
    if len(set(found.values())) > 1:
        described = ", ".join(f"{lang} {sorted(names)}" for lang, names in found.items())
        problems.append(f"{key}: the languages differ in placeholders ({described})")
    return problems


__all__ = [
    "LANGUAGES",
    "SOURCE_LANGUAGE",
    "Catalog",
    "Language",
    "Message",
    "choose",
    "fallbacks",
    "placeholders",
]
