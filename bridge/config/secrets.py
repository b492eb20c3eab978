"""Secrets: never written in the YAML, read at load time from a file or an environment variable.

Each secret key is ``<name>_file`` (a file whose stripped content is the secret) or
``<name>_env`` (an environment variable name); a missing file or variable is a configuration
error. Values are held as :class:`pydantic.SecretStr` and dumped as ``<secret from …>``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, PlainSerializer, PlainValidator, SecretStr, ValidationInfo

from bridge.config.base import Checks, fail
from bridge.config.values import absolute


@dataclass(frozen=True)
class Secret:
    """A secret read at load time; ``source`` says where from and is safe to log."""

    source: str
    value: SecretStr = field(repr=False)

    def get(self) -> str:
        """The secret itself: hand it to the library that needs it, never to a log."""
        return self.value.get_secret_value()

    def __str__(self) -> str:
        return f"<secret from {self.source}>"


def _environ(info: ValidationInfo) -> Mapping[str, str]:
    context = info.context or {}
    env = context.get("environ")
    return os.environ if env is None else env


def _load_file_secret(value: Any, info: ValidationInfo) -> Secret:
    if isinstance(value, Secret):
        return value
    if not isinstance(value, str) or not value.strip():
        raise fail("expected the path of a file holding the secret")
    path = absolute(Path(value))
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise fail(f"secret file {path} does not exist") from None
    except IsADirectoryError:
        raise fail(f"secret file {path} is a directory, not a file") from None
    except PermissionError:
        raise fail(f"secret file {path} cannot be read (permission denied)") from None
    except OSError as exc:
        raise fail(f"secret file {path} cannot be read: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise fail(f"secret file {path} is not UTF-8 text") from None
    if not text:
        raise fail(f"secret file {path} is empty")
    return Secret(f"file {path}", SecretStr(text))


#: check-config's stand-in for an unset variable (``loading``): two of them are not "equal".
UNSET_PLACEHOLDER = "unset-environment-variable-placeholder-" + "x" * 32

ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _load_env_secret(value: Any, info: ValidationInfo) -> Secret:
    if isinstance(value, Secret):
        return value
    if not isinstance(value, str) or not ENV_NAME_RE.match(value):
        raise fail("expected the name of an environment variable (letters, digits, '_')")
    text = _environ(info).get(value)
    if text is None:
        raise fail(f"environment variable {value} is not set")
    if not text.strip():
        raise fail(f"environment variable {value} is empty")
    return Secret(f"environment variable {value}", SecretStr(text.strip()))


# Dumped as "<secret from …>", so model_dump() and JSON exports never carry the value.
_SECRET_SERIALIZER = PlainSerializer(str, return_type=str)
SecretFile = Annotated[Secret, PlainValidator(_load_file_secret), _SECRET_SERIALIZER]
SecretEnv = Annotated[Secret, PlainValidator(_load_env_secret), _SECRET_SERIALIZER]


def one_secret(
    model: BaseModel, checks: Checks, names: Iterable[str], *, required: bool, why: str = ""
) -> Secret | None:
    """Enforce "at most one (exactly one if required) of these secret keys"; return it."""
    keys = [f"{name}_{kind}" for name in names for kind in ("file", "env")]
    given = [key for key in keys if getattr(model, key) is not None]
    listed = ", ".join(keys[:-1]) + " or " + keys[-1]
    if len(given) > 1:
        checks.add(given[1], f"give only one of {listed} (also given: {given[0]})")
    elif not given and required:
        checks.add(keys[0], f"missing secret: give {listed}{why}")
    return getattr(model, given[0]) if given else None
