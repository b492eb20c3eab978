"""Measure directory search on the full seed: ``python -m bridge.spico.sandbox.bench``.

Starts a sandbox on a fresh temporary database (the default seed, 2,400 professionals), runs
each query 50 times through the real client over HTTP, prints p50/p95, and stops the sandbox.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bridge.spico.client import SpicoClient
from bridge.spico.sandbox.process import SandboxProcess

QUERIES = ("martin", "toulouse", "infirm", "m", "810", "dupont marie")
ROUNDS = 50


async def _measure(base_url: str) -> None:
    async with SpicoClient(base_url, "sandbox-token") as client:
        print(f"{'query':16} {'matches':>8} {'p50 ms':>8} {'p95 ms':>8}")
        for query in QUERIES:
            timings = []
            for _ in range(ROUNDS):
                start = time.perf_counter()
                page = await client.search_directory(query)
                timings.append((time.perf_counter() - start) * 1000)
            timings.sort()
            p95 = timings[int(len(timings) * 0.95) - 1]
            print(f"{query!r:16} {page.total:>8} {statistics.median(timings):>8.2f} {p95:>8.2f}")


def main() -> int:
    with tempfile.TemporaryDirectory() as folder:
        sandbox = SandboxProcess(Path(folder), token="sandbox-token")
        sandbox.start()
        try:
            asyncio.run(_measure(sandbox.base_url))
        finally:
            sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
