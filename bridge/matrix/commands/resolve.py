"""Argument resolution that needs no I/O (pure): numbers of the user's last lists, teams by
number, id or name, and whether a ``notify`` may go. Problems carry a texts key."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

from bridge.core.composer import ComposerRefusal, TeamEntry
from bridge.matrix.commands import texts
from bridge.matrix.texts import text

T = TypeVar("T")

#: Statuses for which ``notify`` makes sense (an active professional sees SPICO).
NOTIFIABLE = frozenset({"inactive", "absent", None})


class Problem(Exception):
    """A command cannot go on: ``key`` and ``values`` make the sentence (matrix texts)."""

    def __init__(self, key: str, **values: object) -> None:
        super().__init__(key)
        self.key = key
        self.values = values

    def text(self, language: str) -> str:
        return text(language, self.key, **self.values)


@contextmanager
def not_found_as(key: str, ref: str) -> Iterator[None]:
    """SPICO's "not found" for ``ref`` becomes the problem ``key`` (a sentence naming what the
    user typed); any other refusal goes on to be said as SPICO's."""
    try:
        yield
    except ComposerRefusal as refusal:
        if refusal.code == "not_found":
            raise Problem(key, ref=ref[:40]) from None
        raise


def pick(items: Sequence[T], number: int, kind: str, language: str = "fr") -> T:
    """Item ``number`` (from 1) of the user's last ``kind`` list."""
    if not items:
        raise Problem(
            "no_list",
            what=texts.list_name(kind, language),
            command=texts.list_command(kind, language),
        )
    if not 1 <= number <= len(items):
        raise Problem(
            "out_of_range", number=number, what=texts.list_name(kind, language), count=len(items)
        )
    return items[number - 1]


def fold(value: str) -> str:
    """Lower case without accents, for forgiving name matching."""
    decomposed = unicodedata.normalize("NFKD", value)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def find_team(teams: Sequence[TeamEntry], word: str, language: str = "fr") -> TeamEntry:
    """A team by number of the list, exact id, or a unique part of its name or id."""
    if word.isdigit() and len(word) <= 3:
        return pick(teams, int(word), "teams", language)
    exact = [t for t in teams if t.id == word]
    if exact:
        return exact[0]
    folded = fold(word)
    matches = [t for t in teams if folded in fold(t.name) or folded in fold(t.id)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise Problem("team_unknown", ref=word[:60])
    raise Problem("team_ambiguous", ref=word[:60], names=", ".join(t.name for t in matches))


def notify_refusal(
    *,
    mail_enabled: bool,
    notifications_enabled: bool,
    is_member: bool,
    status: str | None,
    has_account: bool,
    address: str | None,
) -> str | None:
    """Why a manual notification cannot go (a texts key), or None when it may."""
    if not mail_enabled:
        return "notify_no_mail"
    if not notifications_enabled:
        return "notify_disabled"
    if not is_member:
        return "notify_not_member"
    if has_account and status not in NOTIFIABLE:
        return "notify_active"
    if not address:
        return "notify_no_address"
    return None
