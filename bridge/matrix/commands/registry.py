"""The ``!spico`` commands, declared where they are written: one decorator per command.

A command is an ``async`` function of ``bridge.matrix.commands.groups.<group>`` decorated with
:func:`command`, which says everything else needs to know: its canonical name, its French and
English words, where it may run (a portal room, a management room, both), the help entry that
describes it (``help_<key>_usage`` / ``help_<key>_what`` in ``bridge.matrix.texts``), where it
comes in the help, and its options. Parsing (aliases, options), the portal-only refusal and the
help are all read from here, so adding a command touches one file: its group's module (the
groups are found by listing the package, a new module included).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from bridge.matrix.commands.executor import CommandExecutor
    from bridge.matrix.commands.parse import Request
    from bridge.matrix.commands.turn import Turn

#: Where a command may run: a conversation's portal room (it acts on that conversation), the
#: user's management room, or either.
Place = Literal["portal", "management", "both"]
#: ``(executor, turn, request)``: the executor offers the shared I/O (SPICO, the store).
Handler = Callable[["CommandExecutor", "Turn", "Request"], Awaitable[None]]
#: option word → (canonical name, takes a value).
Options = Mapping[str, tuple[str, bool]]

GROUPS_PACKAGE = "bridge.matrix.commands.groups"


@dataclass(frozen=True, slots=True)
class CommandSpec:
    name: str
    fr: tuple[str, ...]
    en: tuple[str, ...]
    where: Place
    #: The help entry's key (``help_<help>_usage``, ``help_<help>_what``).
    help: str
    #: Position in the help (smaller first).
    rank: int
    handler: Handler
    options: Options = field(default_factory=dict)
    #: Open to a Matrix user mapped to nobody yet (self-service: ``lier``, ``code``, ``aide``).
    unmapped: bool = False

    @property
    def words(self) -> tuple[str, ...]:
        """Every word that runs the command (its name first)."""
        return tuple(dict.fromkeys((self.name, *self.fr, *self.en)))


_COMMANDS: dict[str, CommandSpec] = {}
_WORDS: dict[str, str] = {}
_loaded = False


def command(
    name: str,
    *,
    fr: tuple[str, ...],
    en: tuple[str, ...] = (),
    where: Place = "both",
    rank: int,
    help: str | None = None,
    options: Options | None = None,
    unmapped: bool = False,
) -> Callable[[Handler], Handler]:
    """Declare the decorated handler as the command ``name`` (see the module docstring)."""

    def register(handler: Handler) -> Handler:
        spec = CommandSpec(
            name,
            fr,
            en,
            where,
            help or name,
            rank,
            handler,
            MappingProxyType(dict(options or {})),
            unmapped,
        )
        if name in _COMMANDS:
            raise ValueError(f"command {name!r} declared twice")
        for word in spec.words:
            taken = _WORDS.get(word.lower())
            if taken is not None and taken != name:
                raise ValueError(f"{word!r} names both {taken!r} and {name!r}")
        _COMMANDS[name] = spec
        _WORDS.update({word.lower(): name for word in spec.words})
        return handler

    return register


def _load() -> None:
    """Import every group module once (their decorators fill the registry)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    package = importlib.import_module(GROUPS_PACKAGE)
    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{GROUPS_PACKAGE}.{module.name}")


def find(word: str) -> CommandSpec | None:
    """The command a word names (any alias, any case), or None."""
    _load()
    name = _WORDS.get(word.lower())
    return _COMMANDS[name] if name is not None else None


def get(name: str) -> CommandSpec:
    _load()
    return _COMMANDS[name]


def all_commands() -> list[CommandSpec]:
    """Every command, in help order."""
    _load()
    return sorted(_COMMANDS.values(), key=lambda spec: (spec.rank, spec.name))


def words() -> Mapping[str, str]:
    """{word: canonical name} of every alias (for tests and the help)."""
    _load()
    return MappingProxyType(_WORDS)


def option_specs(name: str) -> Options:
    _load()
    spec = _COMMANDS.get(name)
    return spec.options if spec is not None else {}
