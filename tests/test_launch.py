"""The reason a local server did not start, read from its own log (bridge/launch.py)."""

from __future__ import annotations

from pathlib import Path

from bridge.launch import ServerStartFailed, first_reason, log_size, log_tail, meaningful_lines


def test_only_what_this_start_wrote_is_read(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    log.write_text("fatal: yesterday's failure\n")
    since = log_size(log)
    with log.open("a") as more:
        more.write("starting up\n\nfatal: open lock file x.lock: Permission denied\nbye\n")
    assert log_tail(log, since=since) == ["fatal: open lock file x.lock: Permission denied"]
    assert log_size(tmp_path / "missing.log") == 0
    assert log_tail(tmp_path / "missing.log") == []


def test_a_log_without_failure_words_gives_its_last_lines() -> None:
    lines = [f"line {n}" for n in range(20)]
    assert meaningful_lines(lines, limit=3) == ["line 17", "line 18", "line 19"]


def test_a_traceback_gives_its_exception_lines_once() -> None:
    traceback = [
        "Traceback (most recent call last):",
        '  File "/x/app.py", line 3, in check_bind_error',
        "    raise CannotListenError(port)",
        "twisted.internet.error.CannotListenError: Couldn't listen on 127.0.0.1:8008",
        "The above exception was the direct cause of the following exception:",
        "synapse.app._base.ListenerException: Failed to listen on TCP port (8008)",
    ]
    assert meaningful_lines(traceback + traceback) == [
        "twisted.internet.error.CannotListenError: Couldn't listen on 127.0.0.1:8008",
        "synapse.app._base.ListenerException: Failed to listen on TCP port (8008)",
    ]


def test_the_first_log_that_names_a_failure_is_chosen(tmp_path: Path) -> None:
    chatter, telling, empty = tmp_path / "a.log", tmp_path / "b.log", tmp_path / "c.log"
    chatter.write_text("starting the mail system\n")
    telling.write_text("postfix: fatal: unknown inet_protocols value\n")
    assert first_reason([(empty, 0), (chatter, 0), (telling, 0)]) == (
        telling,
        ["postfix: fatal: unknown inet_protocols value"],
    )
    assert first_reason([(empty, 0), (chatter, 0)]) == (chatter, ["starting the mail system"])
    assert first_reason([(empty, 0)]) == (empty, [])


def test_the_error_says_what_where_and_what_to_try(tmp_path: Path) -> None:
    log = tmp_path / "postfix.log"
    log.write_text("fatal: open lock file master.lock: Permission denied\n")
    error = ServerStartFailed.from_logs(
        "Postfix", "`postfix start` failed", [(log, 0)], hint="run postfix check"
    )
    assert str(error).splitlines() == [
        "Postfix did not start: `postfix start` failed",
        f"  last lines of {log}:",
        "    fatal: open lock file master.lock: Permission denied",
        "  try: run postfix check",
    ]
    silent = ServerStartFailed("Dovecot", "exited", log_path=tmp_path / "dovecot.log")
    assert "says nothing" in str(silent) and str(tmp_path / "dovecot.log") in str(silent)
