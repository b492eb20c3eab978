"""HTML → text: entities and accents kept, linear on hostile markup, refused over the caps."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.mail.html import HtmlTooComplex, html_to_text
from bridge.mail.limits import MailLimits


def test_entities_accents_and_emoji_survive() -> None:
    assert html_to_text("<p>Rendez-vous fix&eacute; au 2 d&eacute;cembre.</p>") == (
        "Rendez-vous fixé au 2 décembre."
    )
    assert html_to_text("AT&amp;T &lt;b&gt; &#233; &#x1F600; 😀 fix&eacute") == (
        "AT&T <b> é 😀 😀 fixé"
    )


def test_layout_of_blocks_lists_tables_and_quotes() -> None:
    markup = (
        "<div>a<b>b</b>c<br>d</div>e<ul><li>one</li><li>two</li></ul>"
        "<table><tr><td>c1</td><td>c2</td></tr></table><pre>  x\n   y</pre>"
        "<div>Le 25/11/2026 à 10:00, SPICO a écrit&nbsp;:</div>"
        "<blockquote>Bonjour<blockquote>avant</blockquote></blockquote>"
    )
    assert html_to_text(markup) == (
        "abc\nd\ne\n\n- one\n- two\n\nc1 c2\n\n  x\n   y\n\n"
        "Le 25/11/2026 à 10:00, SPICO a écrit :\n> Bonjour\n> > avant"
    )


def test_scripts_styles_head_and_comments_are_not_text() -> None:
    markup = "<head><title>t</title><style>p{}</style></head><script>x()</script>a<!-- c -->b"
    assert html_to_text(markup) == "ab"
    assert html_to_text("") == ""


@pytest.mark.parametrize(
    "markup",
    [
        "<div " * 15_000 + "x" * 900_000,
        "<" * 70_000 + "x" * 900_000,
        "&" * 1_000_000,
        "&eacute;" * 120_000,
        '<a href="' + "x" * 1_000_000,
        "<a " + 'x="' * 300_000,
        "<!--" * 20_000 + "x" * 900_000,
    ],
    ids=["div-open", "lt", "amp", "entities", "attribute", "quotes", "comments"],
)
def test_pathological_markup_of_a_megabyte_is_read(markup: str) -> None:
    assert isinstance(html_to_text(markup), str)


@pytest.mark.parametrize(
    ("markup", "what"),
    [
        ("<br>" * 25_000, "elements"),
        ("<div " * 200_000, "elements"),  # more "<" than elements may bring: not parsed
        ("<div>" * 300 + "x", "depth"),
        ("<b><i>" * 200, "depth"),
    ],
)
def test_over_the_caps_is_refused_not_cut(markup: str, what: str) -> None:
    with pytest.raises(HtmlTooComplex) as raised:
        html_to_text(markup, MailLimits())
    assert raised.value.what == what


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="<>/=\"'&;#abdivp \n\u00e9", max_size=400))
def test_any_markup_gives_text_or_a_refusal(markup: str) -> None:
    with contextlib.suppress(HtmlTooComplex):
        assert isinstance(html_to_text(markup), str)
