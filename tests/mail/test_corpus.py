"""The inbound corpus itself: large, varied, and what its generator writes (each mail's verdict
through the trust pipeline is checked in test_assess.py)."""

from __future__ import annotations

from pathlib import Path

import yaml

CORPUS = Path(__file__).resolve().parent / "corpus"
INDEX = yaml.safe_load((CORPUS / "index.yaml").read_text(encoding="utf-8"))


def test_corpus_is_large_and_varied() -> None:
    assert len(INDEX) >= 40
    verdicts = {case["verdict"] for case in INDEX}
    assert verdicts == {"accepted", "auto_reply", "bounce", "refused"}


def test_the_corpus_files_are_what_the_generator_writes() -> None:
    names = sorted(p.name for p in CORPUS.glob("*.eml"))
    assert names == sorted(case["file"] for case in INDEX)
