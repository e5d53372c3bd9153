"""`python -m bench [--runs N] [--write PATH] [NAME ...]`: run the benchmarks (all by default),
each N times, and print one table of medians judged against their targets; ``--write`` also writes
the report (``make bench`` writes ``BENCHMARKS.md``). ``python -m bench soak [--minutes N]`` runs
the 30-minute soak (:mod:`bench.soak`), which is never part of the default set.

Each benchmark is an async function returning rows (metric, value, unit, target). Ratios are taken
side by side inside one benchmark run, because these machines are noisy; the report takes the
median over the runs (:mod:`bench.report`).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from bench import (
    budget,
    cache,
    catalog_sync,
    forecast,
    foundation,
    importer,
    jobs,
    plan_day,
    report,
    setlists,
    shows,
    upstream,
)
from bench import sse as sse_bench
from bench.common import Row
from theset_daemon import log
from theset_daemon.config import LogSettings


@dataclass(frozen=True, slots=True)
class Benchmark:
    module: ModuleType
    # At most this many runs, whatever --runs says: the 10,000-artist catalog sync takes four
    # minutes a run, and its figure (RSS growth) is a level, not a noisy rate.
    max_runs: int | None = None

    @property
    def run(self) -> Callable[[], Awaitable[list[Row]]]:
        run: Callable[[], Awaitable[list[Row]]] = self.module.run
        return run

    @property
    def summary(self) -> str:
        return (self.module.__doc__ or "").strip().splitlines()[0]


BENCHMARKS = {
    "foundation": Benchmark(foundation),
    "upstream": Benchmark(upstream),
    "budget": Benchmark(budget),
    "cache": Benchmark(cache),
    "importer": Benchmark(importer),
    "sse": Benchmark(sse_bench),
    "catalog_sync": Benchmark(catalog_sync, max_runs=1),
    # Request counts, not timings: one run says it (two show syncs of 2,000 artists).
    "shows": Benchmark(shows, max_runs=1),
    # Request counts too: one run (two show syncs of 2,000 artists and the setlist step).
    "setlists": Benchmark(setlists, max_runs=1),
    "jobs": Benchmark(jobs),
    # Figures of the plan over a seeded catalog, not timings: one run says it.
    "forecast": Benchmark(forecast, max_runs=1),
    # Request counts and ages over a compressed day: one run says it.
    "plan_day": Benchmark(plan_day, max_runs=1),
}


async def main(names: list[str], runs: int = 1) -> list[report.BenchResult]:
    log.configure(LogSettings(level="error"))
    results: list[report.BenchResult] = []
    for name in names or list(BENCHMARKS):
        bench = BENCHMARKS[name]
        count = min(runs, bench.max_runs or runs)
        started = time.perf_counter()
        all_rows = []
        for n in range(count):
            all_rows.append(await bench.run())
            print(f"# {name}: run {n + 1} of {count} done", file=sys.stderr)
        wall_s = time.perf_counter() - started
        print(f"# {name}: {wall_s:.1f} s", file=sys.stderr)
        results.append(
            report.BenchResult(name, bench.summary, count, wall_s, report.reduce(all_rows))
        )
    print(f"# machine: {report.machine()}")
    report.print_table([f for r in results for f in r.figures])
    return results


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", choices=[[], *BENCHMARKS], metavar="NAME")
    parser.add_argument("--runs", type=int, default=1, help="runs of each benchmark (median)")
    parser.add_argument("--write", type=Path, help="also write the Markdown report here")
    return parser.parse_args()


if __name__ == "__main__":
    if sys.argv[1:2] == ["soak"]:  # by name only, never in the default set: bench/soak.py
        from bench import soak

        sys.exit(soak.main(sys.argv[2:]))
    arguments = _arguments()
    results = asyncio.run(main(arguments.names, arguments.runs))
    if arguments.write is not None:
        command = " ".join(("python -m bench", *sys.argv[1:]))
        arguments.write.write_text(report.markdown(results, command))
        print(f"# wrote {arguments.write}", file=sys.stderr)
