"""Measure directory search on the full seed: ``python -m bridge.spico.sandbox.bench``.

Starts a sandbox on a fresh temporary database (the default seed, 2,400 professionals), runs
each query 50 times through the real client over HTTP, prints p50/p95, and stops the sandbox.
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from bridge.ports import free_port
from bridge.spico.client import SpicoClient

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
    port = free_port()
    with tempfile.TemporaryDirectory() as folder:
        command = [
            sys.executable,
            "-m",
            "bridge.spico.sandbox",
            "--port",
            str(port),
            "--db",
            str(Path(folder) / "sandbox.sqlite3"),
        ]
        sandbox = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base_url = f"http://127.0.0.1:{port}/api/v1"
        try:
            for _ in range(300):
                try:
                    urllib.request.urlopen(f"{base_url}/health", timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.1)
            asyncio.run(_measure(base_url))
        finally:
            sandbox.terminate()
            sandbox.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
