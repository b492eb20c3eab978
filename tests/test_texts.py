"""Every text a user reads, over every catalog: both languages, the same placeholders, and
formatting that never raises; and no code outside the catalogs chooses words by language."""

from __future__ import annotations

import importlib
import re
import string
from pathlib import Path

import pytest

from bridge.core.i18n import LANGUAGES, Catalog

BRIDGE = Path(__file__).resolve().parent.parent / "bridge"
#: Every world (and the hub) declares its texts in one ``texts.py`` holding a ``CATALOG``.
CATALOG_MODULES = sorted(
    ".".join(path.relative_to(BRIDGE.parent).with_suffix("").parts)
    for path in BRIDGE.rglob("texts.py")
    if "CATALOG = Catalog(" in path.read_text(encoding="utf-8")
)
CATALOGS: dict[str, Catalog] = {
    name: importlib.import_module(name).CATALOG for name in CATALOG_MODULES
}
MESSAGES = [(name, key) for name, catalog in CATALOGS.items() for key in catalog]


class Value:
    """A value for any placeholder, whatever its format spec (dates included)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __format__(self, spec: str) -> str:
        return f"<{self.name}>"


def _names(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


def test_every_world_declares_its_texts_in_one_catalog() -> None:
    assert {"bridge.matrix.texts", "bridge.mail.texts", "bridge.hub.texts"} <= set(CATALOGS)
    assert len(MESSAGES) > 200


@pytest.mark.parametrize(("module", "key"), MESSAGES)
def test_every_message_exists_in_both_languages_with_the_same_placeholders(
    module: str, key: str
) -> None:
    message = CATALOGS[module].message(key)
    french, english = message.fr, message.en
    assert french.strip() and english.strip()
    assert _names(french) == _names(english)
    assert all(name.isidentifier() for name in _names(french))


@pytest.mark.parametrize(("module", "key"), MESSAGES)
def test_formatting_every_message_never_raises(module: str, key: str) -> None:
    catalog = CATALOGS[module]
    names = _names(catalog.message(key).fr)
    for language in (*LANGUAGES, "de", None):
        bare = catalog.text(language, key)  # a caller that forgot every value
        assert all("{" + name + "}" in bare for name in names)
        filled = catalog.text(language, key, **{name: Value(name) for name in names})
        assert all(f"<{name}>" in filled and "{" + name + "}" not in filled for name in names)
        assert catalog.text(language, key, **{name: "x" for name in names})
    assert catalog.text("de", key) == catalog.text("fr", key)


_LANGUAGE_TEST = re.compile(
    r"""\blang(uage)?\b\s*[!=]=|[!=]=\s*["'](fr|en)["']|["'](fr|en)["']\s*[!=]=|french\s*="""
)


def test_no_code_outside_the_catalogs_chooses_words_by_language() -> None:
    """Language-dependent words, typography and dates are catalog messages: code never
    branches on a language (bridge/core/i18n.py is where the language is chosen)."""
    offenders = [
        f"{path.relative_to(BRIDGE.parent)}:{number}"
        for path in sorted(BRIDGE.rglob("*.py"))
        if path.name != "i18n.py"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if _LANGUAGE_TEST.search(line)
    ]
    assert offenders == []
