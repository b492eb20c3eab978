"""Operations: log redaction, JSON logs, audit purge, health/readiness/metrics, SIGHUP reload."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import time
import urllib.request
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Connection, Engine, event, func, insert, select

from bridge import ops
from bridge.metrics import OUTBOX
from bridge.store import repositories as repo
from bridge.store.models import AuditEntry, Delivery, utcnow
from bridge.store.repositories import JournalRow, Store
from tests.fixtures.bridge import BridgeProcess, bridge_config
from tests.fixtures.ports import free_port
from tests.fixtures.sandbox import Personas, SandboxProcess


@pytest.mark.parametrize(
    ("line", "leaked"),
    [
        ("reply to bridge+QUJDREVGR0hJSktMTU5PUA@sandbox.mssante.fr", "QUJDREVGR0hJSktMTU5PUA"),
        ("patient 185053112345678 linked", "185053112345678"),
        ("corsican 185052A12345678 x", "185052A12345678"),
        ("Authorization: Bearer s3cr3t-t0ken", "s3cr3t-t0ken"),
        ("token=abcdefghijklmnop", "abcdefghijklmnop"),
    ],
)
def test_redaction_removes_tokens_ins_and_secrets(line: str, leaked: str) -> None:
    assert leaked in line and leaked not in ops.redact(line)


def test_ordinary_lines_are_kept() -> None:
    line = "delivery 42 (matrix, conversation conv_1) attempt 2 failed; next in 1.5s"
    assert ops.redact(line) == line


def test_log_records_are_redacted_and_exceptions_reduced(
    capsys: pytest.CaptureFixture[str],
) -> None:
    ops.configure_logging("INFO", "json")
    logger = logging.getLogger("bridge.test")
    try:
        raise ValueError("body: Madame X, INS 185053112345678")
    except ValueError:
        logger.exception("failed for %s", "bridge+QUJDREVGR0hJSktMTU5PUA@x.mssante.fr")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    ops.configure_logging("INFO", "text")
    (record,) = [r for r in lines if r["logger"] == "bridge.test"]
    assert record["level"] == "ERROR"
    assert "QUJDREVGR0hJSktMTU5PUA" not in record["message"]
    assert "Madame X" not in record["message"] and "[ValueError]" in record["message"]


async def test_purge_removes_only_old_audit_rows(store: Store) -> None:
    async with store.transaction() as session:
        session.add_all(
            [
                AuditEntry(
                    at=utcnow() - timedelta(days=200), world="mail", action="relay", outcome="done"
                ),
                AuditEntry(
                    at=utcnow() - timedelta(days=10), world="mail", action="relay", outcome="done"
                ),
            ]
        )
    assert await ops.purge_audit(store, retention_days=180) == 1
    async with store.transaction() as session:
        assert await session.scalar(select(func.count()).select_from(AuditEntry)) == 1


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


async def test_probe_counts_live_deliveries_on_the_index_not_the_history(store: Store) -> None:
    """Done deliveries are never purged: a probe every few seconds must not read them."""
    counted = ["pending", "pending", "sending", "failed"]  # the rows the probe reads

    def fill(connection: Connection) -> None:
        repo.record_event(
            connection, JournalRow(1, "message.posted", "c1", "810000000001", "t", {})
        )
        connection.execute(
            insert(Delivery),
            [
                {
                    "event_seq": 1,
                    "conversation_id": "c1",
                    "world": "matrix",
                    "destination": f"!room{n}",
                    "kind": "message",
                    "queue": f"c1|!room{n}",
                    "state": state,
                }
                for n, state in enumerate([*counted, *["done"] * 50])
            ],
        )

    await store.run(fill)
    statements: list[tuple[str, Any]] = []

    def capture(_c: object, _cursor: object, statement: str, parameters: Any, *_: object) -> None:
        statements.append((statement, parameters))

    async def spico_up() -> bool:
        return True

    event.listen(Engine, "before_cursor_execute", capture)
    try:
        parts = await ops.Health(store, spico_up, dict).probe()
    finally:
        event.remove(Engine, "before_cursor_execute", capture)
    assert parts == {"store": True, "spico": True}
    assert OUTBOX.labels("pending")._value.get() == 2
    assert OUTBOX.labels("sending")._value.get() == 1
    assert OUTBOX.labels("failed")._value.get() == 1
    read = [(s, p) for s, p in statements if "deliveries" in s]
    assert read, statements
    if store.dialect == "sqlite":
        # A full scan (of the table or of an index) is "SCAN"; a range on the index "SEARCH".
        plans = await store.run(
            lambda connection: [
                row[-1]
                for statement, parameters in read
                for row in connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
            ]
        )
        assert plans and not [p for p in plans if p.startswith("SCAN")], plans
        assert all("ix_deliveries_state_due" in p for p in plans), plans


async def test_health_ready_metrics_and_reload(
    spico_sandbox: SandboxProcess,
    personas: Personas,
    bridge_processes: list[BridgeProcess],
    tmp_path: Path,
) -> None:
    port = free_port()
    config_path = bridge_config(
        tmp_path, spico_sandbox, database_url=f"sqlite:///{tmp_path / 'bridge.db'}"
    )
    config = yaml.safe_load(config_path.read_text())
    config["http"] = {"listen_host": "127.0.0.1", "listen_port": port}
    config_path.write_text(yaml.safe_dump(config))
    bridge = BridgeProcess(config_path, tmp_path / "bridge.log")
    bridge_processes.append(bridge)
    bridge.start()
    base = f"http://127.0.0.1:{port}"
    assert await asyncio.to_thread(_get, f"{base}/health") == (200, b'{"status": "ok"}')
    status, body = await asyncio.to_thread(_get, f"{base}/ready")
    assert status == 200 and json.loads(body)["parts"] == {"store": True, "spico": True}
    status, body = await asyncio.to_thread(_get, f"{base}/metrics")
    assert status == 200 and b"spico_bridge_ready 1.0" in body
    assert b'spico_bridge_connected{world="spico"} 1.0' in body

    # SIGHUP with a broken file keeps the running config; with a good one, applies it.
    good = config_path.read_text()
    config_path.write_text(good + "\nunknown_key: 1\n")
    assert bridge.process is not None
    bridge.process.send_signal(signal.SIGHUP)
    await _wait_for_log(bridge, "reload refused")
    config["participants"] = [
        {"spico_id": personas.colleagues[5], "mail": "x@ops.mssante.fr", "delivery": "mail"}
    ]
    config_path.write_text(yaml.safe_dump(config))
    bridge.process.send_signal(signal.SIGHUP)
    await _wait_for_log(bridge, "configuration reloaded")
    assert bridge.process.poll() is None
    assert bridge.stop() == 0


async def _wait_for_log(bridge: BridgeProcess, text: str) -> None:
    deadline = time.monotonic() + 20
    while text not in bridge.log_path.read_text(errors="replace"):
        assert time.monotonic() < deadline, f"no {text!r} in the log:\n{bridge.tail()}"
        await asyncio.sleep(0.1)
