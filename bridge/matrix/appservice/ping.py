"""Telling the homeserver the appservice is up again (``POST …/appservice/{id}/ping``).

A homeserver that failed to push a transaction (the bridge was stopped or restarting) marks the
appservice down and retries on a backoff that grows to minutes: events, read receipts and
invitations wait that long after a restart. The ping (Matrix v1.7) makes the homeserver call
the bridge's ``/_matrix/app/v1/ping`` and, once answered, resend what it holds at once, as
mautrix bridges do at start. Best effort: an older homeserver without the endpoint only keeps
its own pace.
"""

from __future__ import annotations

import json
import logging
import secrets

from nio import AsyncClient

from bridge.matrix.appservice.registration import REGISTRATION_ID

log = logging.getLogger(__name__)

PING_PATH = f"/_matrix/client/v1/appservice/{REGISTRATION_ID}/ping"


async def ping_homeserver(nio: AsyncClient) -> bool:
    """Ask the homeserver to ping the bridge (and so to resend what it holds); whether it did."""
    body = json.dumps({"transaction_id": f"spico-ping-{secrets.token_hex(8)}"})
    headers = {"Authorization": f"Bearer {nio.access_token}", "Content-Type": "application/json"}
    try:
        response = await nio.send("POST", PING_PATH, body, headers=headers)
        status = response.status
        response.release()
    except Exception as error:  # best effort: the homeserver keeps its own retry pace
        log.warning("matrix appservice: ping not sent (%s)", type(error).__name__)
        return False
    if status != 200:
        log.warning("matrix appservice: the homeserver answered the ping with HTTP %d", status)
        return False
    log.info("matrix appservice: the homeserver reached the bridge (ping)")
    return True
