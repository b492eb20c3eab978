"""Configuration problems, located by file, line and key path; pydantic errors mapped onto them.

Admins fix a hand-edited file from ``check-config``'s output, so each problem names the line of
its key (or of the nearest existing parent, for a missing key), and pydantic's error types are
reworded for them (an unknown key suggests the close one, or how secrets are given).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, get_args

from pydantic import BaseModel, ValidationError

#: The key path of problems about the whole file (YAML syntax, an empty file…).
ROOT_PATH = "<root>"


@dataclass(frozen=True)
class ConfigProblem:
    """One configuration problem (or warning), located by file, line and key path."""

    file: str
    line: int
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.path}: {self.message}"


class ConfigError(Exception):
    """The configuration is invalid; ``problems`` lists every problem found, in line order."""

    def __init__(
        self, problems: Iterable[ConfigProblem], warnings: Iterable[ConfigProblem] = ()
    ) -> None:
        self.problems: list[ConfigProblem] = sorted(problems, key=lambda p: (p.line, p.path))
        self.warnings: list[ConfigProblem] = sorted(warnings, key=lambda p: (p.line, p.path))
        super().__init__("\n".join(str(p) for p in self.problems))


def join_path(path: str, key: object) -> str:
    """``a.b`` + ``c`` → ``a.b.c`` (list items are ``a[0]``)."""
    return f"{path}.{key}" if path else str(key)


def line_for(lines: Mapping[str, int], path: str) -> int:
    """The line of ``path``, or of its nearest existing parent (e.g. for a missing key)."""
    current = path
    while current:
        if current in lines:
            return lines[current]
        cut = max(current.rfind("."), current.rfind("["))
        current = current[:cut] if cut > 0 else ""
    return lines.get("", 1)


# --------------------------------------------------------------------------------------------
# Pydantic errors → problems


def _loc_path(loc: Iterable[int | str]) -> str:
    path = ""
    for part in loc:
        path = f"{path}[{part}]" if isinstance(part, int) else join_path(path, part)
    return path


def _model_at(root: type[BaseModel], loc: Iterable[int | str]) -> type[BaseModel] | None:
    """The model class that validates the mapping at ``loc`` (to suggest key names)."""
    model: type[BaseModel] | None = root
    for part in loc:
        if isinstance(part, int):
            continue
        if model is None or part not in model.model_fields:
            return None
        model = _find_model(model.model_fields[part].annotation)
    return model


def _find_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _find_model(arg)
        if found is not None:
            return found
    return None


def _unknown_key_message(root: type[BaseModel], loc: tuple[int | str, ...]) -> str:
    key = str(loc[-1]) if loc else ""
    model = _model_at(root, loc[:-1])
    fields = sorted(model.model_fields) if model else []
    if f"{key}_file" in fields:
        return (
            f"unknown key: secrets are never written in the configuration; "
            f"secrets are given as {key}_file (a file holding it) or {key}_env "
            "(an environment variable)"
        )
    close = difflib.get_close_matches(key, fields, n=1, cutoff=0.6)
    if close:
        return f"unknown key (did you mean '{close[0]}'?)"
    if fields:
        return "unknown key; allowed here: " + ", ".join(fields)
    return "unknown key"


def _error_message(root: type[BaseModel], error: Mapping[str, Any]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return _unknown_key_message(root, tuple(error["loc"]))
    if kind == "missing":
        return "required key is missing"
    if kind == "model_type" or kind == "model_attributes_type":
        return "expected a mapping of keys"
    if kind == "path_type":
        return "expected a file path"
    if kind == "literal_error":
        got = error.get("input")
        shown = f" (got {got!r})" if isinstance(got, str | int | float | bool) else ""
        return f"{error['msg']}{shown}"
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


def problems_from_validation(
    exc: ValidationError, file: str, lines: Mapping[str, int], root: type[BaseModel]
) -> list[ConfigProblem]:
    """Each error of validating ``root`` as a problem at its key's line, in the admin's words."""
    problems = []
    for error in exc.errors(include_url=False, include_input=True):
        path = _loc_path(error["loc"])
        message = _error_message(root, error)
        problems.append(ConfigProblem(file, line_for(lines, path), path or ROOT_PATH, message))
    return problems
