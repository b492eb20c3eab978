"""A DSN counts only for a mail the bridge sent to that recipient."""

from __future__ import annotations

from pathlib import Path

from bridge.mail.dsn import DsnMatch, DsnReport, match_dsn, read_dsn
from tests.mail.corpus import make_corpus as world

CORPUS = Path(__file__).resolve().parent / "corpus"


def test_postfix_and_exchange_reports_are_read() -> None:
    postfix = read_dsn((CORPUS / "38-dsn-postfix.eml").read_bytes())
    assert postfix == DsnReport(world.SENT_ID, (world.BRUNO_ADDR,))
    exchange = read_dsn((CORPUS / "39-dsn-exchange-fr.eml").read_bytes())
    assert exchange is not None and exchange.original_message_id == world.SENT_ID


def test_only_matching_recipients_count() -> None:
    report = DsnReport(world.SENT_ID, (world.BRUNO_ADDR, "eve@autre.mssante.fr"))

    def sent_to(message_id: str, recipient: str) -> bool:
        return message_id == world.SENT_ID and recipient == world.BRUNO_ADDR

    assert match_dsn(report, sent_to) == DsnMatch(world.SENT_ID, (world.BRUNO_ADDR,))
    assert not match_dsn(DsnReport(None, (world.BRUNO_ADDR,)), sent_to).counts
    assert not match_dsn(DsnReport("<guess@x>", (world.BRUNO_ADDR,)), sent_to).counts
