"""What every section model shares: exact error messages, cross-field checks, strictness."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError


def fail(message: str) -> PydanticCustomError:
    """A validation error whose message is exactly ``message`` (no 'Value error,' prefix)."""
    return PydanticCustomError("config", "{message}", {"message": message})


class Checks:
    """Collects cross-field problems of one model and raises them together, each at its key."""

    def __init__(self, title: str) -> None:
        self._title = title
        self._errors: list[InitErrorDetails] = []

    def add(self, key: str | None, message: str) -> None:
        loc: tuple[str, ...] = (key,) if key else ()
        self._errors.append(InitErrorDetails(type=fail(message), loc=loc, input=None))

    def done(self) -> None:
        if self._errors:
            raise ValidationError.from_exception_data(self._title, self._errors)


class Section(BaseModel):
    """A configuration section: unknown keys are errors (typos must not pass), values frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)
