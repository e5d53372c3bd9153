"""`python -m bench [NAME ...]`: run the benchmarks (all by default) and print one table.

Each benchmark is an async function returning rows (metric, value, unit, target). Ratios are taken
side by side inside one benchmark run, because these machines are noisy.
"""

from __future__ import annotations

import asyncio
import platform
import sys
import time

from bench import cache, catalog_sync, foundation, importer, jobs, upstream
from bench import sse as sse_bench
from bench.common import Row
from theset_daemon import log
from theset_daemon.config import LogSettings

BENCHMARKS = {
    "foundation": foundation.run,
    "upstream": upstream.run,
    "cache": cache.run,
    "importer": importer.run,
    "sse": sse_bench.run,
    "catalog_sync": catalog_sync.run,
    "jobs": jobs.run,
}


def print_table(rows: list[Row]) -> None:
    headers = ("benchmark", "metric", "value", "unit", "target")
    cells = [headers, *[(r.bench, r.metric, r.value_text(), r.unit, r.target) for r in rows]]
    widths = [max(len(str(row[i])) for row in cells) for i in range(len(headers))]
    for n, row in enumerate(cells):
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))


async def main(names: list[str]) -> None:
    log.configure(LogSettings(level="error"))
    rows: list[Row] = []
    for name in names or list(BENCHMARKS):
        started = time.perf_counter()
        rows.extend(await BENCHMARKS[name]())
        print(f"# {name}: {time.perf_counter() - started:.1f} s", file=sys.stderr)
    print(
        f"# machine: {platform.machine()}, {platform.python_implementation()} "
        f"{platform.python_version()}, {platform.system()} {platform.release()}"
    )
    print_table(rows)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
