"""The SPICO sandbox server: the contract of ../openapi.yaml over aiohttp and a SQLite file.

It exists so that the bridge can run, be demonstrated and be tested on one machine without the
real SPICO (which publishes no API). It keeps the contract's rules strict — authentication,
delegations, patient access, idempotency, a gap-free event feed — so that a bridge which works
against it has met every rule the contract states.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from aiohttp import web

from bridge.spico.sandbox.db import (
    JSON,
    PROFESSIONAL_STATUSES,
    NewAttachment,
    SandboxDB,
    SandboxError,
)
from bridge.spico.sandbox.seed import DEFAULT_MAIL_DOMAIN, generate_directory

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
MAX_REQUEST_BYTES = 64 * 1024 * 1024
MAX_SUBJECT_LENGTH = 200
MAX_EVENT_WAIT = 60.0
SHUTDOWN_GRACE = 5.0
UNAUTHENTICATED_PATHS = frozenset({f"{API_PREFIX}/health"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_dumps = partial(json.dumps, ensure_ascii=False)


@dataclass(slots=True)
class SandboxState:
    """What the handlers share: the database, the token, and the event-feed wake-up."""

    db: SandboxDB
    token: str
    head_seq: int
    events_arrived: asyncio.Condition = field(default_factory=asyncio.Condition)
    closing: bool = False
    injected_failures: int = 0
    injected_status: int = 503
    #: Whether injected failures happen after the request was processed (the answer is lost).
    injected_after: bool = False
    #: Instead of a failure, answer 200 with this patient's record (a malformed answer that
    #: quotes patient data: what a client must never log).
    injected_patient: str | None = None
    #: Only requests whose path (below the API prefix) starts with this are failed; None: any.
    injected_path: str | None = None

    async def publish_new_events(self) -> None:
        """Wake long-polls if the last committed write added events."""
        head = self.db.head_seq()
        if head != self.head_seq:
            self.head_seq = head
            async with self.events_arrived:
                self.events_arrived.notify_all()


STATE: web.AppKey[SandboxState] = web.AppKey("state", SandboxState)


def error_response(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": code, "message": message}, status=status, dumps=_dumps)


def json_response(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.json_response(data, status=status, headers=headers, dumps=_dumps)


def bad_request(message: str, code: str = "bad_request") -> SandboxError:
    return SandboxError(400, code, message)


# ---------------------------------------------------------------------------- middlewares


@web.middleware
async def errors_as_json(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every refusal leaves as ``{"error", "message"}`` (never an HTML page)."""
    try:
        return await handler(request)
    except SandboxError as exc:
        return error_response(exc.status, exc.code, exc.message)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = exc.reason.lower().replace(" ", "_")
        return error_response(exc.status, code, f"{exc.reason}: {request.method} {request.path}")
    except Exception:
        log.exception("sandbox request failed: %s %s", request.method, request.path)
        return error_response(500, "internal_error", "The SPICO sandbox failed on this request.")


@web.middleware
async def injected_failures(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Sandbox-only fault injection (see POST /sandbox/faults), to exercise client retries."""
    state = request.app[STATE]
    exempt = request.path in UNAUTHENTICATED_PATHS or request.path.startswith(
        f"{API_PREFIX}/sandbox/"
    )
    targeted = state.injected_path is None or request.path.startswith(
        API_PREFIX + state.injected_path
    )
    if state.injected_failures > 0 and targeted and not exempt:
        state.injected_failures -= 1
        if state.injected_patient is not None:
            return json_response(state.db.require_patient(state.injected_patient))
        if state.injected_after:
            await handler(request)
        return error_response(
            state.injected_status, "injected_failure", "The SPICO sandbox is simulating an outage."
        )
    return await handler(request)


@web.middleware
async def bearer_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path in UNAUTHENTICATED_PATHS:
        return await handler(request)
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    expected = request.app[STATE].token
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), expected.encode()):
        return error_response(
            401, "unauthorized", "A valid bearer token is required to use the SPICO API."
        )
    return await handler(request)


# ---------------------------------------------------------------------------- input helpers


async def read_body(request: web.Request) -> JSON:
    try:
        body = await request.json(loads=json.loads)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise bad_request("The request body is not valid JSON.", "bad_json") from None
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.", "bad_json")
    return body


def required_text(body: JSON, name: str, max_length: int | None = None) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        raise bad_request(f"{name}: a non-empty text is required.")
    if max_length is not None and len(value) > max_length:
        raise bad_request(f"{name}: at most {max_length} characters.")
    return value


def optional_text(body: JSON, name: str, max_length: int | None = None) -> str | None:
    if body.get(name) is None:
        return None
    return required_text(body, name, max_length)


def text_list(body: JSON, name: str) -> list[str]:
    value = body.get(name)
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise bad_request(f"{name}: a list of professional ids is required.")
    return value


def attachments_of(body: JSON) -> list[NewAttachment]:
    value = body.get("attachments")
    if value is None:
        return []
    if not isinstance(value, list):
        raise bad_request("attachments: a list is required.")
    attachments: list[NewAttachment] = []
    for index, item in enumerate(value):
        where = f"attachments[{index}]"
        if not isinstance(item, dict):
            raise bad_request(f"{where}: an object is required.")
        filename = required_text(item, "filename", 255)
        content_type = required_text(item, "content_type", 255)
        encoded = item.get("content_base64")
        if not isinstance(encoded, str):
            raise bad_request(f"{where}.content_base64: base64 text is required.")
        try:
            content = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise bad_request(f"{where}.content_base64: not valid base64.") from None
        if len(content) > MAX_ATTACHMENT_BYTES:
            raise SandboxError(
                413,
                "attachment_too_large",
                f"{where}: an attachment may not exceed "
                f"{MAX_ATTACHMENT_BYTES // (1024 * 1024)} MB.",
            )
        attachments.append(NewAttachment(filename, content_type, content))
    return attachments


def int_query(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise bad_request(f"{name}: an integer is required.") from None
    if not low <= value <= high:
        raise bad_request(f"{name}: must be between {low} and {high}.")
    return value


def optional_user(request: web.Request) -> str | None:
    """The professional the bridge acts for (``X-Spico-User``), checked against the directory."""
    user_id = request.headers.get("X-Spico-User", "").strip()
    if not user_id:
        return None
    if request.app[STATE].db.professional(user_id) is None:
        raise bad_request(f"X-Spico-User: no professional with id {user_id}.", "unknown_user")
    return user_id


def required_user(request: web.Request) -> str:
    """Like :func:`optional_user`, for the endpoints that act on someone's behalf."""
    user_id = optional_user(request)
    if user_id is None:
        raise bad_request(
            "X-Spico-User: the header naming the professional is required.", "missing_user"
        )
    return user_id


def acting_as(db: SandboxDB, user_id: str, value: Any) -> str:
    """The account a write is made as: the user or an account they hold a delegation on."""
    if not isinstance(value, str) or not value:
        raise bad_request("acting_as: the id of the account you act as is required.")
    if db.professional(value) is None:
        raise bad_request(f"acting_as: no professional with id {value}.")
    db.check_acting_as(user_id, value)
    return value


def request_hash(user_id: str, payload: JSON) -> str:
    canonical = json.dumps(
        {"user": user_id, "payload": payload},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


async def idempotent_write(
    request: web.Request,
    *,
    scope: str,
    key: str | None,
    fingerprint: str,
    write: Callable[[], JSON],
) -> web.Response:
    """Run ``write`` once per (scope, key): a replay returns the stored response (200,
    ``Idempotent-Replayed: true``); the same key with another payload is a 422."""
    state = request.app[STATE]
    db = state.db
    with db.transaction():
        stored = db.idempotent_response(scope, key) if key else None
        if stored is not None:
            stored_hash, stored_response = stored
            if stored_hash != fingerprint:
                raise SandboxError(
                    422,
                    "idempotency_mismatch",
                    "This Idempotency-Key was already used for another request.",
                )
            return json_response(
                json.loads(stored_response), headers={"Idempotent-Replayed": "true"}
            )
        result = write()
        if key:
            db.store_idempotent_response(scope, key, fingerprint, _dumps(result))
    await state.publish_new_events()
    return json_response(result, status=201)


def idempotency_key(request: web.Request, *, required: bool) -> str | None:
    key = request.headers.get("Idempotency-Key", "").strip()
    if not key:
        if required:
            raise bad_request(
                "Idempotency-Key: the header is required to post a message.",
                "missing_idempotency_key",
            )
        return None
    if len(key) > 255:
        raise bad_request("Idempotency-Key: at most 255 characters.")
    return key


# ---------------------------------------------------------------------------- handlers

routes = web.RouteTableDef()


def _written(
    request: web.Request, change: Callable[[SandboxDB, Mapping[str, str]], object]
) -> web.Response:
    """A write that answers nothing (204): ``change`` of the path's ids, in one transaction."""
    db = request.app[STATE].db
    with db.transaction():
        change(db, request.match_info)
    return web.Response(status=204)


@routes.get(f"{API_PREFIX}/health")
async def health(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


@routes.get(f"{API_PREFIX}/directory/search")
async def search_directory(request: web.Request) -> web.Response:
    db = request.app[STATE].db
    kind = request.query.get("kind") or None
    if kind not in (None, "professional", "structure"):
        raise bad_request("kind: 'professional' or 'structure'.")
    q = request.query.get("q", "")
    limit = int_query(request, "limit", 20, 1, 100)
    offset = int_query(request, "offset", 0, 0, 1_000_000)
    user_id = optional_user(request)
    results, total = db.search(q, kind, limit, offset)
    if user_id is not None:
        with db.transaction():
            db.record_search(user_id, q, kind)
    return json_response({"results": results, "total": total})


@routes.get(f"{API_PREFIX}/directory/professionals/{{id}}")
async def get_professional(request: web.Request) -> web.Response:
    return json_response(request.app[STATE].db.require_professional(request.match_info["id"]))


@routes.put(f"{API_PREFIX}/directory/professionals/{{id}}/status")
async def set_status(request: web.Request) -> web.Response:
    state = request.app[STATE]
    body = await read_body(request)
    status = body.get("status")
    if status not in PROFESSIONAL_STATUSES:
        raise bad_request(f"status: one of {', '.join(PROFESSIONAL_STATUSES)}.")
    with state.db.transaction():
        professional = state.db.set_status(request.match_info["id"], status)
    await state.publish_new_events()
    return json_response(professional)


@routes.get(f"{API_PREFIX}/directory/structures/{{id}}")
async def get_structure(request: web.Request) -> web.Response:
    structure_id = request.match_info["id"]
    structure = request.app[STATE].db.structure(structure_id)
    if structure is None:
        raise SandboxError(404, "not_found", f"No structure with id {structure_id}.")
    return json_response(structure)


@routes.get(f"{API_PREFIX}/directory/lookup")
async def lookup_address(request: web.Request) -> web.Response:
    address = request.query.get("mssante_address", "").strip()
    if not address:
        raise bad_request("mssante_address: an address is required.")
    found = request.app[STATE].db.lookup_address(address)
    if found is None:
        raise SandboxError(404, "not_found", "No professional or structure has this address.")
    return json_response(found)


@routes.get(f"{API_PREFIX}/accounts/{{id}}/delegations")
async def list_delegations(request: web.Request) -> web.Response:
    db = request.app[STATE].db
    return json_response({"accounts": db.acting_accounts(request.match_info["id"])})


@routes.get(f"{API_PREFIX}/accounts/{{id}}/favorites")
async def list_favorites(request: web.Request) -> web.Response:
    db = request.app[STATE].db
    return json_response({"favorites": db.favorites(request.match_info["id"])})


@routes.put(f"{API_PREFIX}/accounts/{{id}}/favorites/{{target_id}}")
async def add_favorite(request: web.Request) -> web.Response:
    return _written(request, lambda db, path: db.add_favorite(path["id"], path["target_id"]))


@routes.delete(f"{API_PREFIX}/accounts/{{id}}/favorites/{{target_id}}")
async def remove_favorite(request: web.Request) -> web.Response:
    return _written(request, lambda db, path: db.remove_favorite(path["id"], path["target_id"]))


@routes.get(f"{API_PREFIX}/accounts/{{id}}/recent-searches")
async def list_recent_searches(request: web.Request) -> web.Response:
    db = request.app[STATE].db
    account_id = request.match_info["id"]
    db.require_account(account_id)
    return json_response({"searches": db.recent_searches(account_id)})


@routes.get(f"{API_PREFIX}/accounts/{{id}}/patients")
async def list_active_patients(request: web.Request) -> web.Response:
    db = request.app[STATE].db
    account_id = request.match_info["id"]
    user_id = optional_user(request)
    if user_id is not None:
        db.check_acting_as(user_id, account_id)
    return json_response({"patients": db.active_patients(account_id)})


def _readable_patient(request: web.Request) -> JSON:
    db = request.app[STATE].db
    patient = db.require_patient(request.match_info["id"])
    user_id = optional_user(request)
    if user_id is not None:
        db.check_patient_access(db.user_accounts(user_id), patient["id"])
    return patient


@routes.get(f"{API_PREFIX}/patients/{{id}}")
async def get_patient(request: web.Request) -> web.Response:
    return json_response(_readable_patient(request))


@routes.get(f"{API_PREFIX}/patients/{{id}}/care-circle")
async def get_care_circle(request: web.Request) -> web.Response:
    patient = _readable_patient(request)
    members = request.app[STATE].db.care_circle(patient["id"])
    return json_response({"patient": patient, "members": members})


@routes.get(f"{API_PREFIX}/resource-teams")
async def list_resource_teams(request: web.Request) -> web.Response:
    return json_response({"teams": request.app[STATE].db.resource_teams()})


@routes.post(f"{API_PREFIX}/resource-teams/{{id}}/requests")
async def request_resource_team(request: web.Request) -> web.Response:
    db = request.app[STATE].db
    user_id = required_user(request)
    body = await read_body(request)
    team = db.require_resource_team(request.match_info["id"])
    account = acting_as(db, user_id, body.get("acting_as"))
    subject = (
        optional_text(body, "subject", MAX_SUBJECT_LENGTH) or f"Sollicitation : {team['name']}"
    )
    message = required_text(body, "message")
    patient_id = optional_text(body, "patient_id")

    def write() -> JSON:
        conversation, first_message = db.create_conversation(
            created_by=account,
            sent_by=user_id,
            members=team["members"],
            subject=subject,
            body=message,
            patient_id=patient_id,
            attachments=[],
            idempotency_key=None,
        )
        return {"conversation": conversation, "message": first_message}

    return await idempotent_write(
        request,
        scope=f"resource-teams/{team['id']}/requests",
        key=idempotency_key(request, required=False),
        fingerprint=request_hash(user_id, body),
        write=write,
    )


@routes.post(f"{API_PREFIX}/conversations")
async def create_conversation(request: web.Request) -> web.Response:
    db = request.app[STATE].db
    user_id = required_user(request)
    body = await read_body(request)
    account = acting_as(db, user_id, body.get("acting_as"))
    members = text_list(body, "members")
    if not [member for member in members if member != account]:
        raise bad_request("members: at least one member other than acting_as is required.")
    subject = required_text(body, "subject", MAX_SUBJECT_LENGTH)
    message = required_text(body, "message")
    patient_id = optional_text(body, "patient_id")
    attachments = attachments_of(body)
    key = idempotency_key(request, required=False)

    def write() -> JSON:
        conversation, first_message = db.create_conversation(
            created_by=account,
            sent_by=user_id,
            members=members,
            subject=subject,
            body=message,
            patient_id=patient_id,
            attachments=attachments,
            idempotency_key=None,
        )
        return {"conversation": conversation, "message": first_message}

    return await idempotent_write(
        request,
        scope="conversations",
        key=key,
        fingerprint=request_hash(user_id, body),
        write=write,
    )


@routes.get(f"{API_PREFIX}/conversations")
async def list_conversations(request: web.Request) -> web.Response:
    db = request.app[STATE].db
    member = request.query.get("member") or None
    limit = int_query(request, "limit", 50, 1, 200)
    offset = int_query(request, "offset", 0, 0, 1_000_000)
    conversations, total = db.list_conversations(member, limit, offset)
    return json_response({"conversations": conversations, "total": total})


def _readable_conversation(request: web.Request) -> JSON:
    db = request.app[STATE].db
    conversation = db.require_conversation(request.match_info["id"])
    user_id = optional_user(request)
    if user_id is not None:
        db.check_reader(conversation, user_id)
    return conversation


@routes.get(f"{API_PREFIX}/conversations/{{id}}")
async def get_conversation(request: web.Request) -> web.Response:
    return json_response(_readable_conversation(request))


@routes.get(f"{API_PREFIX}/conversations/{{id}}/messages")
async def list_messages(request: web.Request) -> web.Response:
    conversation = _readable_conversation(request)
    limit = int_query(request, "limit", 100, 1, 500)
    after = request.query.get("after") or None
    messages = request.app[STATE].db.messages(conversation["id"], after, limit)
    return json_response({"messages": messages})


@routes.post(f"{API_PREFIX}/conversations/{{id}}/messages")
async def post_message(request: web.Request) -> web.Response:
    db = request.app[STATE].db
    user_id = required_user(request)
    key = idempotency_key(request, required=True)
    conversation = db.require_conversation(request.match_info["id"])
    body = await read_body(request)
    account = acting_as(db, user_id, body.get("acting_as"))
    text = required_text(body, "body")
    attachments = attachments_of(body)

    def write() -> JSON:
        return db.post_message(
            conversation["id"],
            author_id=account,
            sent_by=user_id,
            body=text,
            attachments=attachments,
            idempotency_key=key,
        )

    return await idempotent_write(
        request,
        scope=f"conversations/{conversation['id']}/messages",
        key=key,
        fingerprint=request_hash(user_id, body),
        write=write,
    )


@routes.post(f"{API_PREFIX}/conversations/{{id}}/notices")
async def post_notice(request: web.Request) -> web.Response:
    """A notice from the service account itself (no author): the conversation's members see
    it as a platform message. ``about`` names what it is about (e.g. a failed destination)."""
    db = request.app[STATE].db
    if optional_user(request) is not None:
        raise bad_request("X-Spico-User: a notice is posted by the service account alone.")
    key = idempotency_key(request, required=True)
    conversation = db.require_conversation(request.match_info["id"])
    body = await read_body(request)
    text = required_text(body, "body")
    about = optional_text(body, "about", 400)

    def write() -> JSON:
        return db.post_notice(conversation["id"], body=text, about=about, idempotency_key=key)

    return await idempotent_write(
        request,
        scope=f"conversations/{conversation['id']}/notices",
        key=key,
        fingerprint=request_hash("service", body),
        write=write,
    )


@routes.get(f"{API_PREFIX}/attachments/{{id}}")
async def get_attachment(request: web.Request) -> web.Response:
    attachment_id = request.match_info["id"]
    row = request.app[STATE].db.attachment(attachment_id)
    if row is None:
        raise SandboxError(404, "not_found", f"No attachment with id {attachment_id}.")
    return web.Response(body=row["content"], content_type=row["content_type"])


async def _change_conversation(
    request: web.Request,
    actor_from_query: bool,
    change: Callable[[SandboxDB, str, str, JSON], JSON],
) -> web.Response:
    """Shared shape of the member/patient/subject changes: user, acting_as, one transaction."""
    state = request.app[STATE]
    db = state.db
    user_id = required_user(request)
    body = {} if actor_from_query else await read_body(request)
    raw_actor = request.query.get("acting_as") if actor_from_query else body.get("acting_as")
    account = acting_as(db, user_id, raw_actor)
    with db.transaction():
        conversation = change(db, request.match_info["id"], account, body)
    await state.publish_new_events()
    return json_response(conversation)


@routes.patch(f"{API_PREFIX}/conversations/{{id}}")
async def rename_conversation(request: web.Request) -> web.Response:
    return await _change_conversation(
        request,
        False,
        lambda db, cid, actor, body: db.rename(
            cid, actor, required_text(body, "subject", MAX_SUBJECT_LENGTH)
        ),
    )


@routes.post(f"{API_PREFIX}/conversations/{{id}}/members")
async def add_member(request: web.Request) -> web.Response:
    return await _change_conversation(
        request,
        False,
        lambda db, cid, actor, body: db.add_member(cid, actor, required_text(body, "member_id")),
    )


@routes.delete(f"{API_PREFIX}/conversations/{{id}}/members/{{member_id}}")
async def remove_member(request: web.Request) -> web.Response:
    member_id = request.match_info["member_id"]
    return await _change_conversation(
        request, True, lambda db, cid, actor, _: db.remove_member(cid, actor, member_id)
    )


@routes.put(f"{API_PREFIX}/conversations/{{id}}/patient")
async def link_patient(request: web.Request) -> web.Response:
    return await _change_conversation(
        request,
        False,
        lambda db, cid, actor, body: db.link_patient(cid, actor, required_text(body, "patient_id")),
    )


@routes.delete(f"{API_PREFIX}/conversations/{{id}}/patient")
async def unlink_patient(request: web.Request) -> web.Response:
    return await _change_conversation(
        request, True, lambda db, cid, actor, _: db.unlink_patient(cid, actor)
    )


@routes.get(f"{API_PREFIX}/events")
async def list_events(request: web.Request) -> web.Response:
    """The long-poll feed: answer at once if events follow ``after``, else wait for one."""
    state = request.app[STATE]
    after = int_query(request, "after", 0, 0, 2**62)
    limit = int_query(request, "limit", 100, 1, 1000)
    try:
        wait = float(request.query.get("wait", "0"))
    except ValueError:
        raise bad_request("wait: a number of seconds is required.") from None
    if not 0 <= wait <= MAX_EVENT_WAIT:
        raise bad_request(f"wait: must be between 0 and {MAX_EVENT_WAIT:g} seconds.")
    events = state.db.events(after, limit)
    if not events and wait > 0:
        async with state.events_arrived:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    state.events_arrived.wait_for(lambda: state.head_seq > after or state.closing),
                    wait,
                )
        events = state.db.events(after, limit)
    last_seq = events[-1]["seq"] if events else after
    return json_response({"events": events, "last_seq": last_seq, "head_seq": state.head_seq})


@routes.post(f"{API_PREFIX}/sandbox/faults")
async def inject_faults(request: web.Request) -> web.Response:
    """Sandbox only: answer the next ``count`` API requests with ``status`` (5xx)."""
    state = request.app[STATE]
    body = await read_body(request)
    count, status = body.get("count"), body.get("status", 503)
    if not isinstance(count, int) or count < 0:
        raise bad_request("count: a non-negative integer is required.")
    if not isinstance(status, int) or not 500 <= status <= 599:
        raise bad_request("status: a 5xx status code is required.")
    after = body.get("after_processing", False)
    if not isinstance(after, bool):
        raise bad_request("after_processing: true or false.")
    patient = body.get("answer_patient")
    if patient is not None and (not isinstance(patient, str) or state.db.patient(patient) is None):
        raise bad_request("answer_patient: the id of a patient of the sandbox.")
    only_path = body.get("only_path")
    if only_path is not None and (not isinstance(only_path, str) or not only_path.startswith("/")):
        raise bad_request("only_path: a path below the API prefix, starting with /.")
    state.injected_failures, state.injected_status = count, status
    state.injected_after, state.injected_patient = after, patient
    state.injected_path = only_path
    return web.Response(status=204)


@routes.put(f"{API_PREFIX}/sandbox/delegations/{{holder_id}}/{{account_id}}")
async def grant_delegation(request: web.Request) -> web.Response:
    """Sandbox only: ``holder_id`` may act as ``account_id`` from now on."""
    return _written(
        request, lambda db, path: db.set_delegation(path["holder_id"], path["account_id"], True)
    )


@routes.delete(f"{API_PREFIX}/sandbox/delegations/{{holder_id}}/{{account_id}}")
async def revoke_delegation(request: web.Request) -> web.Response:
    """Sandbox only: withdraw a delegation (SPICO refuses acting as that account from now)."""
    return _written(
        request, lambda db, path: db.set_delegation(path["holder_id"], path["account_id"], False)
    )


# ---------------------------------------------------------------------------- lifecycle


def open_database(
    db_path: Path, seed: int, demo_conversations: int = 0, mail_domain: str = DEFAULT_MAIL_DOMAIN
) -> SandboxDB:
    """Open the sandbox database, seeding it only when it holds no directory yet (a new file):
    a restart keeps everything. Seeding is one transaction, so a crash cannot leave half."""
    db_path.parent.mkdir(parents=True, exist_ok=True)
    db = SandboxDB(db_path)
    if not db.is_seeded:
        with db.transaction():
            db.load_directory(generate_directory(seed, mail_domain=mail_domain), seed)
            if demo_conversations:
                db.create_demo_conversations(demo_conversations, seed)
    return db


async def _wake_long_polls(app: web.Application) -> None:
    state = app[STATE]
    state.closing = True
    async with state.events_arrived:
        state.events_arrived.notify_all()


def create_app(db: SandboxDB, token: str) -> web.Application:
    app = web.Application(
        middlewares=[errors_as_json, injected_failures, bearer_auth],
        client_max_size=MAX_REQUEST_BYTES,
    )
    app[STATE] = SandboxState(db=db, token=token, head_seq=db.head_seq())
    app.add_routes(routes)
    app.on_shutdown.append(_wake_long_polls)
    return app


async def serve(
    host: str,
    port: int,
    db_path: Path,
    token: str,
    seed: int,
    conversations: int = 0,
    *,
    mail_domain: str = DEFAULT_MAIL_DOMAIN,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve until ``stop`` is set (or the task is cancelled), then stop cleanly."""
    db = open_database(Path(db_path), seed, conversations, mail_domain)
    runner = web.AppRunner(create_app(db, token), access_log=None, shutdown_timeout=SHUTDOWN_GRACE)
    try:
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_port = runner.addresses[0][1] if runner.addresses else port
        print(f"SPICO sandbox listening on http://{host}:{bound_port}{API_PREFIX}", flush=True)
        await (stop or asyncio.Event()).wait()
    finally:
        await runner.cleanup()
        db.close()


def run_sandbox(
    host: str,
    port: int,
    db_path: Path,
    token: str,
    seed: int,
    demo_conversations: int = 0,
    *,
    mail_domain: str = DEFAULT_MAIL_DOMAIN,
) -> None:
    """Run the sandbox in the foreground until SIGINT or SIGTERM."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await serve(
            host, port, db_path, token, seed, demo_conversations, mail_domain=mail_domain, stop=stop
        )

    try:
        asyncio.run(main())
    finally:
        sys.stdout.flush()
