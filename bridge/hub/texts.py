"""Every text the hub writes, in French (the source) and English: the notice it posts in a
conversation when a delivery failed for good (SPICO shows it to every member).

To add a text: add a ``Message`` below with both languages and the same ``{placeholders}``,
then call ``text(language, key, **values)``.
"""

from __future__ import annotations

from bridge.core.i18n import Catalog, Message

_MESSAGES = {
    # failure notices, by the world that could not deliver (``delivery_failed_<world>``)
    "delivery_failed_matrix": Message(
        fr="⚠ Un message n'a pas pu être remis dans le salon Matrix de cette conversation.",
        en="⚠ A message could not be delivered to this conversation's Matrix room.",
    ),
    "delivery_failed_mail": Message(
        fr="⚠ Un message n'a pas pu être remis par messagerie sécurisée à un participant "
        "({destination}). Les autres participants l'ont bien reçu.",
        en="⚠ A message could not be delivered by secure mail to a member ({destination}). "
        "The other members did receive it.",
    ),
}

CATALOG = Catalog(_MESSAGES)
#: ``text(language, key, **values)``: the message in that language, its placeholders filled.
text = CATALOG.text


def failure_notice(world: str, destination: str, language: str = "fr") -> str:
    """The notice of a delivery that failed in ``world`` (the Matrix one for another world)."""
    key = f"delivery_failed_{world}"
    if key not in CATALOG:
        key = "delivery_failed_matrix"
    return text(language, key, destination=destination)
