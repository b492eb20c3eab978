"""The parsing worker process (``python -m bridge.mail.worker``) and its wire format.

It reads requests on stdin and answers on stdout, one frame each (8-byte length, then a
pickle). Requests come from the bridge (trusted): a function, importable by name, and its
arguments. Answers come from the process that just read attacker-controlled bytes, so the
bridge unpickles them with an allowlist (``load_answer``): plain values and the readers' result
types only, never an arbitrary class or callable.
"""

from __future__ import annotations

import contextlib
import io
import os
import pickle
import struct
import sys
from typing import Any, BinaryIO

_LENGTH = struct.Struct(">Q")
#: An answer larger than this is refused (the mail caps keep real ones far below).
MAX_FRAME_BYTES = 256 * 1024 * 1024
DEFAULT_MEMORY_BYTES = 1024 * 1024 * 1024

#: The classes an answer may hold (module, name).
ALLOWED = frozenset(
    {
        ("bridge.mail.envelope", "Envelope"),
        ("bridge.mail.envelope", "EnvelopeProblem"),
        ("bridge.mail.author", "Author"),
        ("bridge.mail.author", "AuthorProblem"),
        ("bridge.mail.body", "Body"),
        ("bridge.mail.body", "BodyProblem"),
        ("bridge.core.delivery", "Attachment"),
        ("bridge.mail.dsn", "DsnReport"),
    }
)


class _AnswerUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError("a class outside the allowlist")


def dump_frame(value: object) -> bytes:
    payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    return _LENGTH.pack(len(payload)) + payload


def frame_length(header: bytes) -> int:
    (length,) = _LENGTH.unpack(header)
    if length > MAX_FRAME_BYTES:
        raise ValueError("frame too large")
    return int(length)


HEADER_BYTES = _LENGTH.size


def load_answer(payload: bytes) -> Any:
    """An answer from the worker, unpickled with the allowlist."""
    return _AnswerUnpickler(io.BytesIO(payload)).load()


def _read_exactly(stream: BinaryIO, size: int) -> bytes | None:
    chunks: list[bytes] = []
    remaining = size
    while remaining:
        chunk = stream.read(remaining)
        if not chunk:
            return None
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def serve(requests: BinaryIO, answers: BinaryIO) -> None:
    """Answer requests until the input closes: ("ok", result) or ("error", type name)."""
    while True:
        header = _read_exactly(requests, HEADER_BYTES)
        if header is None:
            return
        payload = _read_exactly(requests, frame_length(header))
        if payload is None:
            return
        function, args = pickle.loads(payload)  # from the bridge itself
        try:
            answer: tuple[str, Any] = ("ok", function(*args))
        except BaseException as exc:  # reported by type only: texts may quote the mail
            answer = ("error", type(exc).__name__)
        try:
            frame = dump_frame(answer)
        except Exception as exc:
            frame = dump_frame(("error", type(exc).__name__))
        answers.write(frame)
        answers.flush()


def main() -> None:
    memory = int(os.environ.get("SPICO_PARSER_MEMORY_BYTES", DEFAULT_MEMORY_BYTES))
    if memory > 0:
        with contextlib.suppress(ImportError, ValueError, OSError):
            import resource

            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    sys.stdout = sys.stderr  # nothing else may write to the answer stream
    import bridge.mail.body
    import bridge.mail.dsn
    import bridge.mail.envelope  # noqa: F401  (ready before the first mail)

    serve(sys.stdin.buffer, answers)


if __name__ == "__main__":
    main()
