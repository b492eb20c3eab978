"""Warnings on valid files: a section left empty counts as absent."""

from __future__ import annotations

from pathlib import Path

from bridge.config import load_config
from tests.config.cases import MINIMAL, Check, prefix


def test_empty_section_counts_as_absent(check: Check, workdir: Path) -> None:
    text = MINIMAL.split("matrix:")[0] + "matrix:\n  # enabled: true\nmail:\ndatabase:\n"
    code, errors, _ = check(text)
    assert code == 0
    assert errors == [
        prefix(1, "<root>") + "warning: neither matrix nor mail is enabled: nothing will be bridged"
    ]
    config = load_config(workdir / "bridge.yaml", environ={})
    assert not config.matrix.enabled and not config.mail.enabled
