"""``spico-bridge check-config``: every problem and warning as ``FILE:LINE: key.path: message``."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

from bridge.config.loading import load_config
from bridge.config.problems import ConfigError


def check_config_command(path: str | Path, *, environ: Mapping[str, str] | None = None) -> int:
    """``spico-bridge check-config``: problems and warnings on stderr; 0 if valid, else 2."""
    try:
        config = load_config(path, environ=environ, require_env=False)
    except ConfigError as exc:
        for problem in sorted([*exc.warnings, *exc.problems], key=lambda p: (p.line, p.path)):
            print(problem, file=sys.stderr)
        return 2
    for warning in config.warnings:
        print(warning, file=sys.stderr)
    print(f"{path}: OK")
    return 0
