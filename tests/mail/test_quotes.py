"""Only a trailing quoted block is removed; text in the middle, and interleaved answers, stay."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.mail.quotes import Stripped, strip_quotes

QUOTE = "> Bonjour, pouvez-vous passer ?\n> \n> -- \n> SPICO\n"


@pytest.mark.parametrize(
    ("text", "new"),
    [
        (f"D'accord.\n\nLe 25/11/2026 à 10:00, SPICO a écrit :\n{QUOTE}", "D'accord."),
        (f"OK.\n\nOn Wed, Nov 25, 2026 at 10:00 AM SPICO <b@x.fr> wrote:\n{QUOTE}", "OK."),
        (
            "OK.\n\nLe mer. 25 nov. 2026 à 10:00, Dr Jean Dupont (via SPICO) <\n"
            f"bridge@sandbox.mssante.fr> a écrit :\n\n{QUOTE}",
            "OK.",
        ),
        (f"OK.\n\n> Le 25 nov. 2026 à 10:00, SPICO <b@x.fr> a écrit :\n>\n{QUOTE}", "OK."),
        ("OK.\n\n-----Original Message-----\nFrom: SPICO\nhello", "OK."),
        ("OK.\n\n-------- Message d'origine --------\nDe : SPICO\nBonjour", "OK."),
        ("OK.\n\nDe : SPICO <b@x.fr>\nEnvoyé : mercredi\nÀ : Anne\nObjet : x\n\nBonjour", "OK."),
        ("OK.\n________________________________\nFrom: S\nSent: W\nTo: A\nSubject: x\n\nB", "OK."),
        ("OK.\n\n-- \nDr Anne Martin\nInfirmière\n06 00 00 00 00\n", "OK."),
        ("OK.\n\nEnvoyé de mon iPhone", "OK."),
        ("Le 25/11/2026 à 10:00, SPICO a écrit :\n> Bonjour\n", ""),
    ],
)
def test_trailing_quotes_and_signatures_go(text: str, new: str) -> None:
    assert strip_quotes(text) == Stripped(new, False)


@pytest.mark.parametrize(
    "text",
    [
        # A prescription that starts with ">" is not a quote.
        "Bonjour\n> 2 g/j de paracétamol : ARRÊTER\nMerci",
        "Bonjour\n\n> 2 g/j de paracétamol : ARRÊTER",
        # Answers between quoted lines: the quote stays with them.
        "Voir :\n\nLe 25/11/2026 à 10:00, SPICO a écrit :\n> Q1\nRéponse 1\n> Q2\nRéponse 2",
        # Bottom posting.
        "Le 25/11/2026 à 10:00, SPICO a écrit :\n> Q1\n\nMa réponse",
        # Prose that looks a little like markers.
        "Le patient a écrit :\n> J'ai mal",
        "Dose 2 g\n--\nArrêter le paracétamol",
        "De : Dr Martin\nà revoir demain",
        "Résultats :\n---------- Forwarded message ---------\nFrom: labo\nHb 12",
        "Texte\n-- \n" + "\n".join(f"ligne {n}" for n in range(12)),
    ],
)
def test_new_text_is_never_cut(text: str) -> None:
    assert strip_quotes(text) == Stripped(text, False)


def test_text_over_the_limit_is_cut_and_said() -> None:
    assert strip_quotes("x" * 200, max_chars=150) == Stripped("x" * 150, True)


def test_accents_emoji_and_line_endings() -> None:
    assert strip_quotes("Ça va 😀\r\nÉtienne\r\n").text == "Ça va 😀\nÉtienne"


@pytest.mark.parametrize(
    "text",
    [
        "Le 1 a écrit :\n" * 100_000,
        "> q\n" * 250_000,
        "De : x\n" * 150_000,
        "-- \n" * 250_000,
        ("_" * 10 + "\n") * 100_000,
        "Le 1 a écrit :\n> q\nnew\n" * 50_000,
        "a" * 1_000_000,
    ],
    ids=["attributions", "quotes", "header-starts", "signatures", "underscores", "mixed", "line"],
)
def test_a_megabyte_of_markers_is_read(text: str) -> None:
    assert isinstance(strip_quotes(text).text, str)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            ["texte", "> cité", "", "-- ", "Le 1/2/2026, X a écrit :", "De : X", "Objet : y"]
        ),
        max_size=30,
    )
)
def test_what_is_kept_is_a_prefix_of_the_lines(lines: list[str]) -> None:
    text = "\n".join(lines)
    kept = strip_quotes(text).text
    assert text.startswith(kept) or text.strip().startswith(kept)
