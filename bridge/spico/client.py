"""Async client of the SPICO API contract (bridge/spico/openapi.yaml).

Transient failures (connection errors, timeouts, 5xx) are retried with jittered exponential
backoff; POSTs are retried too, which is safe because every one carries an Idempotency-Key.
Refusals (4xx) raise a :class:`SpicoHTTPError` subclass at once. Nothing here logs a message
body or a patient identity.

This is the one place where ids meet URLs: every path segment and id parameter goes through
``bridge.core.identifiers.checked_id`` (the contract's grammar of its kind) and is
percent-quoted, and the URL is handed to aiohttp as already encoded, so nothing resolves
``..`` in it. A bad id raises ``BadIdentifier`` before any request. An answer that does not
fit its model raises :class:`SpicoBadResponse`, whose text names the model only: a pydantic
``ValidationError`` quotes the input (it may be a patient record) and never leaves this module.
Downloads are read up to a cap (``max_download_bytes``): a larger attachment raises
:class:`SpicoTooLarge` without being held in memory.
"""

from __future__ import annotations

import base64
import json
import logging
import ssl
import uuid
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import quote

import aiohttp
from pydantic import BaseModel, TypeAdapter, ValidationError
from tenacity import (
    AsyncRetrying,
    RetryError,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)
from yarl import URL

from bridge.core.errors import ServiceUnavailable, read_capped
from bridge.core.identifiers import IdKind, checked_id
from bridge.spico.models import (
    AttachmentContent,
    CareCircle,
    Conversation,
    ConversationPage,
    CreatedConversation,
    EventPage,
    Message,
    NewAttachment,
    Patient,
    Professional,
    ProfessionalOrStructure,
    ProfessionalStatus,
    RecentSearch,
    ResourceTeam,
    SearchPage,
    Structure,
)

log = logging.getLogger(__name__)

#: Extra seconds over the server-side wait before a long-poll is considered lost.
LONG_POLL_MARGIN = 10.0
#: The largest attachment the client reads (the contract's own limit is 10 MB); the app sets
#: the largest cap of the enabled worlds.
DEFAULT_MAX_DOWNLOAD_BYTES = 10 * 1024 * 1024

ModelT = TypeVar("ModelT", bound=BaseModel)
_directory_entry = TypeAdapter(ProfessionalOrStructure)
_directory_entries = TypeAdapter(list[ProfessionalOrStructure])


class SpicoError(Exception):
    """Base of every error the SPICO client raises."""


class SpicoHTTPError(SpicoError):
    """SPICO refused the request (4xx); ``code`` is the contract's error code, ``message``
    SPICO's sentence (for the user; it stays out of ``str()``, which logs may show)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"SPICO {status} {code}")
        self.status = status
        self.code = code
        self.message = message


class SpicoBadRequest(SpicoHTTPError):
    """400 or 422: the request is malformed or conflicts with an earlier idempotent one."""


class SpicoUnauthorized(SpicoHTTPError):
    """401: the service account's token is missing or wrong."""


class SpicoForbidden(SpicoHTTPError):
    """403: no delegation, not a member, no access to the patient."""


class SpicoNotFound(SpicoHTTPError):
    """404: unknown id."""


class SpicoConflict(SpicoHTTPError):
    """409: the change conflicts with the current state."""


class SpicoUnavailable(SpicoError, ServiceUnavailable):
    """SPICO could not be reached (or kept failing) after every retry."""


class SpicoBadResponse(SpicoError):
    """SPICO answered 2xx with something the contract does not allow (not JSON, or not the
    expected model). The text names the model only, never the answer."""


class SpicoTooLarge(SpicoError):
    """A download is larger than the client's cap; nothing of it was kept."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"SPICO download over {limit} bytes")
        self.limit = limit


class _TransientFailure(Exception):
    """A 5xx answer: worth retrying."""

    def __init__(self, status: int) -> None:
        super().__init__(f"SPICO answered {status}")
        self.status = status


_ERRORS_BY_STATUS: dict[int, type[SpicoHTTPError]] = {
    400: SpicoBadRequest,
    422: SpicoBadRequest,
    401: SpicoUnauthorized,
    403: SpicoForbidden,
    404: SpicoNotFound,
    409: SpicoConflict,
}
_RETRYABLE = (
    aiohttp.ClientConnectionError,
    aiohttp.ClientPayloadError,
    TimeoutError,
    _TransientFailure,
)


def _segment(kind: IdKind, value: str) -> str:
    """One id as a URL path segment: checked against its grammar, then percent-quoted."""
    return quote(checked_id(kind, value), safe="")


class _Response:
    """What the client keeps of an HTTP answer once it has been read."""

    __slots__ = ("body", "content_type", "headers", "status")

    def __init__(
        self, status: int, body: bytes, content_type: str, headers: Mapping[str, str]
    ) -> None:
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = headers

    def json(self) -> Any:
        return json.loads(self.body)


class SpicoClient:
    """One method per endpoint; ``on_behalf_of`` is the professional sent as X-Spico-User."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 30,
        max_attempts: int = 5,
        session: aiohttp.ClientSession | None = None,
        ssl_context: ssl.SSLContext | None = None,
        max_download_bytes: int = DEFAULT_MAX_DOWNLOAD_BYTES,
    ) -> None:
        self._base_url = str(URL(base_url.rstrip("/")))
        self._token = token
        self._timeout = timeout
        self._max_attempts = max_attempts
        self._session = session
        self._owns_session = session is None
        #: The configured CA (``spico.ca_file``); None: the system's trust store.
        self._ssl_context = ssl_context
        self.max_download_bytes = max_download_bytes

    async def __aenter__(self) -> Self:
        self._ensure_session()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    def _ensure_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = (
                aiohttp.TCPConnector(ssl=self._ssl_context)
                if self._ssl_context is not None
                else None
            )
            self._session = aiohttp.ClientSession(connector=connector)
            self._owns_session = True
        return self._session

    # ------------------------------------------------------------------ transport

    async def _request(
        self,
        method: str,
        path: str,
        *,
        on_behalf_of: str | None = None,
        params: Mapping[str, str | int | float] | None = None,
        json_body: Any = None,
        idempotency_key: str | None = None,
        request_timeout: float | None = None,
        expect_json: bool = True,
        max_body_bytes: int | None = None,
    ) -> _Response:
        """``path`` is made of literals and ``_segment`` ids only (already encoded)."""
        headers = {"Authorization": f"Bearer {self._token}", "Accept": "application/json"}
        if on_behalf_of is not None:
            headers["X-Spico-User"] = on_behalf_of
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        query = {k: str(v) for k, v in (params or {}).items()}
        client_timeout = aiohttp.ClientTimeout(total=request_timeout or self._timeout)
        # Encoded as it is: yarl neither re-quotes nor resolves dot segments in it.
        url = URL(self._base_url + path, encoded=True)

        async def attempt() -> _Response:
            session = self._ensure_session()
            async with session.request(
                method, url, headers=headers, params=query, json=json_body, timeout=client_timeout
            ) as answer:
                if answer.status >= 500:
                    raise _TransientFailure(answer.status)
                if max_body_bytes is None:
                    body = await answer.read()
                else:
                    body = await read_capped(answer, max_body_bytes, SpicoTooLarge)
                return _Response(answer.status, body, answer.content_type, answer.headers)

        # The first attempt goes without tenacity (its per-call machinery cost ~26 µs of CPU,
        # a tenth of the request itself); once it fails transiently, tenacity takes over from
        # attempt 1, re-raising that failure first, so waits, logs and the stop are as before.
        failure: BaseException | None = None
        try:
            response = await attempt()
        except _RETRYABLE as exc:
            failure = exc
        if failure is not None:

            async def again() -> _Response:
                nonlocal failure
                if failure is not None:
                    first, failure = failure, None
                    raise first
                return await attempt()

            retrying = AsyncRetrying(
                retry=retry_if_exception_type(_RETRYABLE),
                stop=stop_after_attempt(self._max_attempts),
                wait=wait_random_exponential(multiplier=0.2, max=5),
                before_sleep=lambda state: log.warning(
                    "SPICO %s failed (%s), attempt %d of %d; retrying",
                    method,
                    _failure_kind(state.outcome.exception()),
                    state.attempt_number,
                    self._max_attempts,
                ),
            )
            try:
                response = await retrying(again)
            except RetryError as exc:
                cause = exc.last_attempt.exception()
                raise SpicoUnavailable(
                    f"SPICO unreachable after {self._max_attempts} attempts "
                    f"({_failure_kind(cause)})"
                ) from None
        if response.status >= 400:
            raise _http_error(response)
        if expect_json and response.status != 204 and not response.body:
            raise SpicoBadResponse(f"SPICO answered {response.status} without a body")
        return response

    async def _get_model(self, model: type[ModelT], path: str, **kwargs: Any) -> ModelT:
        response = await self._request("GET", path, **kwargs)
        return _validated(model, response.body)

    # ------------------------------------------------------------------ health and directory

    async def health(self) -> bool:
        response = await self._request("GET", "/health")
        return response.json().get("status") == "ok"

    async def search_directory(
        self,
        q: str,
        *,
        kind: str | None = None,
        limit: int = 20,
        offset: int = 0,
        on_behalf_of: str | None = None,
    ) -> SearchPage:
        """Search professionals and structures; with ``on_behalf_of`` the query is recorded
        in that professional's recent searches."""
        params: dict[str, str | int] = {"q": q, "limit": limit, "offset": offset}
        if kind is not None:
            params["kind"] = kind
        return await self._get_model(
            SearchPage, "/directory/search", params=params, on_behalf_of=on_behalf_of
        )

    async def get_professional(self, professional_id: str) -> Professional:
        return await self._get_model(
            Professional, f"/directory/professionals/{_segment('professional', professional_id)}"
        )

    async def get_structure(self, structure_id: str) -> Structure:
        return await self._get_model(
            Structure, f"/directory/structures/{_segment('structure', structure_id)}"
        )

    async def lookup_address(self, mssante_address: str) -> Professional | Structure:
        response = await self._request(
            "GET", "/directory/lookup", params={"mssante_address": mssante_address}
        )
        return _validated(_directory_entry, response.body)

    async def set_status(self, professional_id: str, status: ProfessionalStatus) -> Professional:
        """Sandbox only: simulate a presence change."""
        response = await self._request(
            "PUT",
            f"/directory/professionals/{_segment('professional', professional_id)}/status",
            json_body={"status": status},
        )
        return _validated(Professional, response.body)

    async def revoke_delegation(self, holder_id: str, account_id: str) -> None:
        """Sandbox only: withdraw the delegation ``holder_id`` holds on ``account_id``."""
        await self._request(
            "DELETE",
            f"/sandbox/delegations/{_segment('professional', holder_id)}"
            f"/{_segment('professional', account_id)}",
            expect_json=False,
        )

    async def grant_delegation(self, holder_id: str, account_id: str) -> None:
        """Sandbox only: give ``holder_id`` a delegation on ``account_id``."""
        await self._request(
            "PUT",
            f"/sandbox/delegations/{_segment('professional', holder_id)}"
            f"/{_segment('professional', account_id)}",
            expect_json=False,
        )

    # ------------------------------------------------------------------ accounts

    async def list_delegations(self, account_id: str) -> list[Professional]:
        """Accounts ``account_id`` may act as, their own first."""
        response = await self._request("GET", f"{_account(account_id)}/delegations")
        return _validated_list(Professional, response.body, "accounts")

    async def list_favorites(self, account_id: str) -> list[Professional | Structure]:
        response = await self._request("GET", f"{_account(account_id)}/favorites")
        return _validated_list(_directory_entry, response.body, "favorites")

    async def add_favorite(self, account_id: str, target_id: str) -> None:
        await self._request(
            "PUT",
            f"{_account(account_id)}/favorites/{_segment('directory', target_id)}",
            expect_json=False,
        )

    async def remove_favorite(self, account_id: str, target_id: str) -> None:
        await self._request(
            "DELETE",
            f"{_account(account_id)}/favorites/{_segment('directory', target_id)}",
            expect_json=False,
        )

    async def recent_searches(self, account_id: str) -> list[RecentSearch]:
        response = await self._request("GET", f"{_account(account_id)}/recent-searches")
        return _validated_list(RecentSearch, response.body, "searches")

    async def list_patients(
        self, account_id: str, *, on_behalf_of: str | None = None
    ) -> list[Patient]:
        """The account's active patient files; with ``on_behalf_of`` SPICO checks that this
        professional is the account or holds a delegation on it (403 ``no_delegation``)."""
        response = await self._request(
            "GET", f"{_account(account_id)}/patients", on_behalf_of=on_behalf_of
        )
        return _validated_list(Patient, response.body, "patients")

    # ------------------------------------------------------------------ patients and teams

    async def get_patient(self, patient_id: str, *, on_behalf_of: str | None = None) -> Patient:
        return await self._get_model(
            Patient, f"/patients/{_segment('patient', patient_id)}", on_behalf_of=on_behalf_of
        )

    async def get_care_circle(
        self, patient_id: str, *, on_behalf_of: str | None = None
    ) -> CareCircle:
        return await self._get_model(
            CareCircle,
            f"/patients/{_segment('patient', patient_id)}/care-circle",
            on_behalf_of=on_behalf_of,
        )

    async def list_resource_teams(self) -> list[ResourceTeam]:
        response = await self._request("GET", "/resource-teams")
        return _validated_list(ResourceTeam, response.body, "teams")

    async def request_resource_team(
        self,
        team_id: str,
        *,
        on_behalf_of: str,
        acting_as: str,
        message: str,
        subject: str | None = None,
        patient_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> CreatedConversation:
        """Open a conversation with a resource team's members."""
        payload: dict[str, Any] = {"acting_as": acting_as, "message": message}
        if subject is not None:
            payload["subject"] = subject
        if patient_id is not None:
            payload["patient_id"] = patient_id
        response = await self._request(
            "POST",
            f"/resource-teams/{_segment('team', team_id)}/requests",
            on_behalf_of=on_behalf_of,
            json_body=payload,
            idempotency_key=idempotency_key or str(uuid.uuid4()),
        )
        return _validated(CreatedConversation, response.body)

    # ------------------------------------------------------------------ conversations

    async def create_conversation(
        self,
        *,
        on_behalf_of: str,
        acting_as: str,
        members: Sequence[str],
        subject: str,
        message: str,
        patient_id: str | None = None,
        attachments: Sequence[NewAttachment] = (),
        idempotency_key: str | None = None,
    ) -> CreatedConversation:
        payload: dict[str, Any] = {
            "acting_as": acting_as,
            "members": list(members),
            "subject": subject,
            "message": message,
        }
        if patient_id is not None:
            payload["patient_id"] = patient_id
        if attachments:
            payload["attachments"] = _encode_attachments(attachments)
        response = await self._request(
            "POST",
            "/conversations",
            on_behalf_of=on_behalf_of,
            json_body=payload,
            idempotency_key=idempotency_key or str(uuid.uuid4()),
        )
        return _validated(CreatedConversation, response.body)

    async def list_conversations(
        self, *, member: str | None = None, limit: int = 50, offset: int = 0
    ) -> ConversationPage:
        params: dict[str, str | int] = {"limit": limit, "offset": offset}
        if member is not None:
            params["member"] = checked_id("professional", member)
        return await self._get_model(ConversationPage, "/conversations", params=params)

    async def get_conversation(
        self, conversation_id: str, *, on_behalf_of: str | None = None
    ) -> Conversation:
        return await self._get_model(
            Conversation, _conversation(conversation_id), on_behalf_of=on_behalf_of
        )

    async def list_messages(
        self,
        conversation_id: str,
        *,
        after: str | None = None,
        limit: int = 100,
        on_behalf_of: str | None = None,
    ) -> list[Message]:
        """Messages in posting order, after the message id ``after`` if given."""
        params: dict[str, str | int] = {"limit": limit}
        if after is not None:
            params["after"] = checked_id("conversation", after)  # message ids: same grammar
        response = await self._request(
            "GET",
            f"{_conversation(conversation_id)}/messages",
            params=params,
            on_behalf_of=on_behalf_of,
        )
        return _validated_list(Message, response.body, "messages")

    async def post_message(
        self,
        conversation_id: str,
        *,
        on_behalf_of: str,
        acting_as: str,
        body: str,
        idempotency_key: str,
        attachments: Sequence[NewAttachment] = (),
    ) -> Message:
        """Post a message; the caller's key (e.g. a Matrix event id or a mail's Message-ID)
        makes a retry or a re-delivery return the original message instead of a copy."""
        if not idempotency_key:
            raise ValueError("post_message needs the caller's idempotency key")
        payload: dict[str, Any] = {"acting_as": acting_as, "body": body}
        if attachments:
            payload["attachments"] = _encode_attachments(attachments)
        response = await self._request(
            "POST",
            f"{_conversation(conversation_id)}/messages",
            on_behalf_of=on_behalf_of,
            json_body=payload,
            idempotency_key=idempotency_key,
        )
        return _validated(Message, response.body)

    async def post_notice(
        self, conversation_id: str, *, body: str, idempotency_key: str, about: str | None = None
    ) -> Message:
        """Post a platform notice (no author) as the service account, e.g. a failed delivery."""
        payload: dict[str, Any] = {"body": body}
        if about is not None:
            payload["about"] = about
        response = await self._request(
            "POST",
            f"{_conversation(conversation_id)}/notices",
            json_body=payload,
            idempotency_key=idempotency_key,
        )
        return _validated(Message, response.body)

    async def get_attachment(
        self, attachment_id: str, *, max_bytes: int | None = None
    ) -> AttachmentContent:
        """An attachment's bytes, read up to ``max_bytes`` (default: the client's cap);
        larger: :class:`SpicoTooLarge`."""
        limit = self.max_download_bytes if max_bytes is None else max_bytes
        response = await self._request(
            "GET",
            f"/attachments/{_segment('attachment', attachment_id)}",
            max_body_bytes=limit,
        )
        return AttachmentContent(content_type=response.content_type, content=response.body)

    async def _conversation_change(self, method: str, path: str, **kwargs: Any) -> Conversation:
        """A change to a conversation (subject, members, patient): SPICO answers with it."""
        response = await self._request(method, path, **kwargs)
        return _validated(Conversation, response.body)

    async def rename_conversation(
        self, conversation_id: str, *, on_behalf_of: str, acting_as: str, subject: str
    ) -> Conversation:
        return await self._conversation_change(
            "PATCH",
            _conversation(conversation_id),
            on_behalf_of=on_behalf_of,
            json_body={"acting_as": acting_as, "subject": subject},
        )

    async def add_member(
        self, conversation_id: str, member_id: str, *, on_behalf_of: str, acting_as: str
    ) -> Conversation:
        return await self._conversation_change(
            "POST",
            f"{_conversation(conversation_id)}/members",
            on_behalf_of=on_behalf_of,
            json_body={"acting_as": acting_as, "member_id": member_id},
        )

    async def remove_member(
        self, conversation_id: str, member_id: str, *, on_behalf_of: str, acting_as: str
    ) -> Conversation:
        return await self._conversation_change(
            "DELETE",
            f"{_conversation(conversation_id)}/members/{_segment('professional', member_id)}",
            on_behalf_of=on_behalf_of,
            params={"acting_as": checked_id("professional", acting_as)},
        )

    async def link_patient(
        self, conversation_id: str, patient_id: str, *, on_behalf_of: str, acting_as: str
    ) -> Conversation:
        return await self._conversation_change(
            "PUT",
            f"{_conversation(conversation_id)}/patient",
            on_behalf_of=on_behalf_of,
            json_body={"acting_as": acting_as, "patient_id": patient_id},
        )

    async def unlink_patient(
        self, conversation_id: str, *, on_behalf_of: str, acting_as: str
    ) -> Conversation:
        return await self._conversation_change(
            "DELETE",
            f"{_conversation(conversation_id)}/patient",
            on_behalf_of=on_behalf_of,
            params={"acting_as": checked_id("professional", acting_as)},
        )

    # ------------------------------------------------------------------ events

    async def get_events(self, after: int, *, limit: int = 100) -> EventPage:
        """Events after ``after`` without waiting."""
        return await self.long_poll_events(after, 0, limit)

    async def long_poll_events(self, after: int, wait: float, limit: int = 100) -> EventPage:
        """Events after ``after``; if there are none yet, SPICO holds the request up to
        ``wait`` seconds and answers as soon as one arrives."""
        return await self._get_model(
            EventPage,
            "/events",
            params={"after": after, "wait": wait, "limit": limit},
            request_timeout=wait + LONG_POLL_MARGIN,
        )

    async def inject_failures(
        self, count: int, status: int = 503, *, after_processing: bool = False
    ) -> None:
        """Sandbox only: make the next ``count`` API requests fail with ``status``; with
        ``after_processing`` the request is carried out first and only its answer is lost."""
        await self._request(
            "POST",
            "/sandbox/faults",
            json_body={"count": count, "status": status, "after_processing": after_processing},
            expect_json=False,
        )


def _encode_attachments(attachments: Sequence[NewAttachment]) -> list[dict[str, str]]:
    return [
        {
            "filename": a.filename,
            "content_type": a.content_type,
            "content_base64": base64.b64encode(a.content).decode("ascii"),
        }
        for a in attachments
    ]


def _account(account_id: str) -> str:
    return f"/accounts/{_segment('professional', account_id)}"


def _conversation(conversation_id: str) -> str:
    return f"/conversations/{_segment('conversation', conversation_id)}"


def _failure_kind(exc: BaseException | None) -> str:
    """What went wrong with a transport attempt, in the bridge's words: a status or the
    exception's type, never its text."""
    if isinstance(exc, _TransientFailure):
        return f"HTTP {exc.status}"
    if isinstance(exc, TimeoutError):
        return "timeout"
    return type(exc).__name__ if exc is not None else "unknown error"


def _validated(model: type[ModelT] | TypeAdapter[Any], body: bytes) -> Any:
    """``body`` as ``model``; an answer that does not fit is a :class:`SpicoBadResponse`
    naming the model. The ``ValidationError`` (its text quotes the answer) is dropped, not
    chained: it is not even the new error's context."""
    try:
        if isinstance(model, TypeAdapter):
            return model.validate_json(body)
        return model.model_validate_json(body)
    except ValidationError:
        pass
    raise SpicoBadResponse(f"SPICO answered an unexpected {_model_name(model)}")


def _validated_list(model: type[ModelT] | TypeAdapter[Any], body: bytes, key: str) -> list[Any]:
    """``body[key]`` as a list of ``model`` (same rule as :func:`_validated`)."""
    try:
        items = json.loads(body)[key]
        if isinstance(items, list):
            if isinstance(model, TypeAdapter):
                return [model.validate_python(item) for item in items]
            return [model.model_validate(item) for item in items]
    except (ValidationError, ValueError, KeyError, TypeError):
        pass
    raise SpicoBadResponse(f"SPICO answered an unexpected {key} list")


def _model_name(model: type[BaseModel] | TypeAdapter[Any]) -> str:
    return model.__name__ if isinstance(model, type) else "directory entry"


def _http_error(response: _Response) -> SpicoHTTPError:
    code, message = f"http_{response.status}", "SPICO refused the request."
    try:
        payload = response.json()
        code = str(payload.get("error", code))[:64]
        message = str(payload.get("message", message))[:500]
    except (ValueError, AttributeError):
        pass
    error_class = _ERRORS_BY_STATUS.get(response.status, SpicoHTTPError)
    return error_class(response.status, code, message)
