"""``!spico`` command lines → typed requests (pure).

Syntax: ``<command> [arguments] [--option value] [-- free text]``. Arguments may be quoted
("…", '…', “…”, «…»); ``--`` (or an em/en dash alone, which phones type for it) ends the
options and everything after it is kept as typed (the first message of ``new``, the request of
``team``). Command names and options have French and English aliases, declared with each
command (``bridge.matrix.commands.registry``).

References (``MemberRef``): a number of the last list (``1``, ``1,3``, ``2-4``), a Matrix user
(``@jean:hs``), a SPICO id (idNat ``810000000001``, ``pat-00012``, a team's id) or an MSSanté
address (``jean.dupont@x.mssante.fr``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from bridge.matrix.commands import registry

FAV_ACTIONS = {
    "add": "add",
    "ajouter": "add",
    "+": "add",
    "rm": "rm",
    "remove": "rm",
    "del": "rm",
    "retirer": "rm",
    "supprimer": "rm",
    "suppr": "rm",
    "-": "rm",
    "list": "list",
    "liste": "list",
    "ls": "list",
}
NONE_WORDS = frozenset({"none", "aucun", "aucune", "sans", "-", "no", "non"})
CANCEL_WORDS = frozenset({"cancel", "annuler", "stop", "abandon", "abandonner"})
YES_WORDS = frozenset({"yes", "y", "oui", "o", "ok", "envoyer", "send", "valider", "confirmer"})
SELF_WORDS = frozenset({"me", "moi", "self"})

SEPARATORS = frozenset({"--", "—", "–"})
_QUOTES = {'"': '"', "'": "'", "“": "”", "«": "»", "„": "“"}
_NUMBER = re.compile(r"^\d{1,3}$")
_RANGE = re.compile(r"^(\d{1,3})-(\d{1,3})$")
_MATRIX_USER = re.compile(r"^@[^:\s]+:\S+$")
_ADDRESS = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_RANGE = 50


@dataclass(frozen=True, slots=True)
class Token:
    text: str
    start: int
    end: int
    quoted: bool = False


def tokenize(text: str) -> list[Token]:
    """Words and quoted strings with their position in ``text`` (an unclosed quote runs to
    the end)."""
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        start = i
        closing = _QUOTES.get(text[i])
        if closing is not None:
            end = text.find(closing, i + 1)
            end = n if end < 0 else end
            tokens.append(Token(text[i + 1 : end].strip(), start, min(end + 1, n), True))
            i = end + 1
            continue
        while i < n and not text[i].isspace():
            i += 1
        tokens.append(Token(text[start:i], start, i))
    return tokens


# --- references ------------------------------------------------------------------------------

RefKind = Literal["number", "matrix", "id", "address"]


@dataclass(frozen=True, slots=True)
class Ref:
    """One reference typed by the user (not resolved yet)."""

    kind: RefKind
    value: str

    @property
    def number(self) -> int:
        return int(self.value)


def parse_refs(words: list[str] | tuple[str, ...]) -> list[Ref]:
    """``["1,3", "@u:hs", "810000000001"]`` → refs, in order, without repeats."""
    refs: list[Ref] = []
    for word in words:
        for part in word.replace(";", ",").split(","):
            part = part.strip().strip(".")
            if not part:
                continue
            span = _RANGE.match(part)
            if span:
                low, high = int(span.group(1)), int(span.group(2))
                if low <= high and high - low < MAX_RANGE:
                    refs.extend(Ref("number", str(k)) for k in range(low, high + 1))
                    continue
            if _NUMBER.match(part):
                refs.append(Ref("number", str(int(part))))
            elif _MATRIX_USER.match(part):
                refs.append(Ref("matrix", part))
            elif _ADDRESS.match(part):
                refs.append(Ref("address", part.lower()))
            else:
                refs.append(Ref("id", part))
    return list(dict.fromkeys(refs))


def parse_ref(word: str) -> Ref | None:
    refs = parse_refs([word])
    return refs[0] if len(refs) == 1 else None


# --- requests --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Request:
    """A parsed command: canonical ``name`` (``""`` for an unknown ``word``), positional
    arguments, options, and the free text after ``--`` (``rest``)."""

    name: str
    word: str
    args: tuple[str, ...] = ()
    options: dict[str, str | bool] = field(default_factory=dict)
    rest: str | None = None
    #: Free text starting at the second positional argument, as typed (``team 2 Bonjour…``).
    tail: str | None = None
    #: An option the command does not know (the reply names it).
    bad_option: str | None = None


def command_name(word: str) -> str | None:
    """The canonical name of the command ``word`` names, or None."""
    spec = registry.find(word)
    return spec.name if spec is not None else None


def parse(text: str) -> Request:
    """A command line (prefix already removed) → :class:`Request`."""
    text = text.strip()
    tokens = tokenize(text)
    if not tokens:
        return Request("help", "")
    word = tokens[0].text
    name = command_name(word) or ""
    specs = registry.option_specs(name) if name else {}
    args: list[Token] = []
    options: dict[str, str | bool] = {}
    rest: str | None = None
    bad: str | None = None
    i = 1
    while i < len(tokens):
        token = tokens[i]
        if not token.quoted and token.text in SEPARATORS:
            rest = text[token.end :].strip()
            break
        lowered = token.text.lower()
        if not token.quoted and lowered.startswith("--") and len(lowered) > 2:
            spec = specs.get(lowered)
            if spec is None:
                bad = bad or token.text
                i += 1
                continue
            key, takes_value = spec
            if takes_value:
                value = tokens[i + 1].text if i + 1 < len(tokens) else ""
                options[key] = value
                i += 2
            else:
                options[key] = True
                i += 1
            continue
        args.append(token)
        i += 1
    tail = None
    if len(args) >= 2:
        end = len(text)
        if rest is not None:
            separator = next(t for t in tokens if not t.quoted and t.text in SEPARATORS)
            end = separator.start
        tail = text[args[1].start : end].strip()
        if args[1].quoted and tail.startswith(text[args[1].start]):
            tail = " ".join(t.text for t in args[1:])
    return Request(name, word, tuple(t.text for t in args), options, rest, tail, bad)


def is_command_word(text: str) -> bool:
    """Does ``text`` start with a command name (to run a command inside a dialogue step)?"""
    tokens = tokenize(text)
    return bool(tokens) and not tokens[0].quoted and command_name(tokens[0].text) is not None


def strip_prefix(body: str, prefix: str) -> str | None:
    """The command after ``prefix`` (``!spico search x`` → ``search x``), None without it."""
    stripped = body.strip()
    if stripped == prefix:
        return ""
    if stripped.startswith(prefix) and stripped[len(prefix)].isspace():
        return stripped[len(prefix) :].strip()
    return None
