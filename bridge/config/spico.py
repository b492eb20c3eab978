"""``spico:``: the SPICO API (or its sandbox) and the bridge's service account."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, model_validator

from bridge.config.base import Checks, Section
from bridge.config.secrets import Secret, SecretEnv, SecretFile, one_secret
from bridge.config.values import (
    BridgeExisting,
    HttpUrl,
    PositiveFloat,
    PositiveInt,
    ReadableFile,
    is_plain_http_to_remote,
)


class SpicoConfig(Section):
    """The SPICO API (or its sandbox) and the bridge's service account."""

    base_url: HttpUrl
    token_file: SecretFile | None = None
    token_env: SecretEnv | None = None
    poll_wait_seconds: int = Field(default=25, ge=1, le=60)
    request_timeout_seconds: PositiveFloat = 30
    max_attempts: PositiveInt = 5
    ca_file: ReadableFile | None = None
    web_url: HttpUrl | None = None
    bridge_existing: BridgeExisting = "new"

    @model_validator(mode="before")
    @classmethod
    def _default_web_url(cls, data: Any) -> Any:
        """Notification mails link to SPICO's web app: same scheme and host as the API."""
        if isinstance(data, dict) and data.get("web_url") is None:
            base = data.get("base_url")
            if isinstance(base, str):
                parts = urlsplit(base.strip())
                if parts.scheme in ("http", "https") and parts.netloc:
                    data = {**data, "web_url": f"{parts.scheme}://{parts.netloc}"}
        return data

    @model_validator(mode="after")
    def _check(self) -> SpicoConfig:
        checks = Checks("spico")
        one_secret(self, checks, ["token"], required=True)
        if is_plain_http_to_remote(self.base_url):
            checks.add(
                "base_url",
                f"plain http:// is only allowed to a loopback host, not "
                f"{urlsplit(self.base_url).hostname}: use https:// (and ca_file for a private CA)",
            )
        if self.request_timeout_seconds <= self.poll_wait_seconds:
            checks.add(
                "request_timeout_seconds",
                f"must be greater than poll_wait_seconds ({self.poll_wait_seconds}), "
                "or every long-poll would time out",
            )
        checks.done()
        return self

    @property
    def token(self) -> Secret:
        """The bearer token of the bridge's SPICO service account."""
        secret = self.token_file or self.token_env
        assert secret is not None  # guaranteed by validation
        return secret
