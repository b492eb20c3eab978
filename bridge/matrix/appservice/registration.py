"""The appservice registration file the homeserver loads (pure, plus one writer).

Synapse reads it at start (``app_service_config_files``): the tokens both sides prove
themselves with, where to push transactions, and the namespaces the bridge holds exclusively:
every ``@<prefix>…`` user (the ghosts) and the portal and space aliases, so that nobody else
can register a ghost's name or squat a portal's alias.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml

from bridge.config.matrix import MatrixConfig
from bridge.matrix.sink import PORTAL_ALIAS_PREFIX

#: The registration's ``id``: one bridge per homeserver under this name.
REGISTRATION_ID = "spico-bridge"


def registration(matrix: MatrixConfig) -> dict[str, Any]:
    """The registration for ``matrix`` (appservice mode, validated: its keys are set)."""
    appservice = matrix.appservice
    assert appservice is not None and matrix.server_name and matrix.bot_user_id
    server = re.escape(matrix.server_name)
    return {
        "id": REGISTRATION_ID,
        "url": appservice.homeserver_url,
        "as_token": appservice.as_token.get(),
        "hs_token": appservice.hs_token.get(),
        "sender_localpart": matrix.bot_user_id[1:].split(":", 1)[0],
        "rate_limited": False,
        "namespaces": {
            "users": [{"exclusive": True, "regex": appservice.ghost_regex(matrix.server_name)}],
            # Portals (spico_<conversation>) and patient spaces (spico_patient_<patient>).
            "aliases": [
                {"exclusive": True, "regex": f"#{re.escape(PORTAL_ALIAS_PREFIX)}.+:{server}"}
            ],
            "rooms": [],
        },
        "protocols": ["spico"],
        "receive_ephemeral": True,  # read receipts: missed-message mails
    }


def write_registration(matrix: MatrixConfig, path: Path) -> None:
    """Write the registration readable by its owner only: it holds both tokens."""
    text = yaml.safe_dump(registration(matrix), sort_keys=False, allow_unicode=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(text)
    os.chmod(path, 0o600)
