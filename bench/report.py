"""The benchmark report: figures of repeated runs reduced to medians, each judged against its
target, printed as a table and written as ``BENCHMARKS.md``.

A target is the text a benchmark put in its row (``">= 40,000"``, ``"<= 1.10"``, ``"< 250"``,
``"0.90-1.00"``, ``"0"``, ``"<= 12,288 (12 KiB)"``): an operator, a number, or a range; words and
a parenthesised gloss after it are ignored. The median of the runs is what is judged, and the
range of the runs is shown beside it, so a reader sees how noisy the figure was. Ratios are
computed inside each run (the two sides measured together), and their median is taken like any
other figure, never a ratio of medians.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import platform
import re
import statistics
import subprocess
import warnings
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

from bench.common import Row
from theset_daemon import log
from theset_daemon.config import LogSettings

_NUMBER = r"-?[\d,]*\.?\d+"
_COMPARISON = re.compile(rf"^(<=|>=|<|>|=)?\s*({_NUMBER})")
_RANGE = re.compile(rf"^({_NUMBER})\s*-\s*({_NUMBER})")


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def meets(target: str, value: float) -> bool | None:
    """Whether ``value`` meets ``target``; None when the row has no target (or none that reads as
    a number). A bare number is an exact target, judged at the precision it is written in."""
    text = target.strip()
    if found := _RANGE.match(text):
        low, high = _number(found[1]), _number(found[2])
        return low <= value <= high
    if not (found := _COMPARISON.match(text)):
        return None
    operator, limit = found[1] or "=", _number(found[2])
    if operator == "=":
        decimals = len(found[2].partition(".")[2])
        return round(value, decimals) == limit
    return {
        "<": value < limit,
        "<=": value <= limit,
        ">": value > limit,
        ">=": value >= limit,
    }[operator]


@dataclass(frozen=True, slots=True)
class Figure:
    """One metric over the runs of its benchmark."""

    bench: str
    metric: str
    unit: str
    target: str
    note: str
    values: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def met(self) -> bool | None:
        return meets(self.target, self.median) if self.target else None

    def verdict(self) -> str:
        return {True: "met", False: "**NOT met**", None: ""}[self.met]

    def range_text(self) -> str:
        if len(self.values) == 1:
            return ""
        return f"{_value_text(min(self.values))} - {_value_text(max(self.values))}"


def _value_text(value: float) -> str:
    return Row("", "", value, "").value_text()


def reduce(runs: Sequence[Sequence[Row]]) -> list[Figure]:
    """The figures of one benchmark's runs, in the order of its first run."""
    values: dict[tuple[str, str], list[float]] = {}
    first: dict[tuple[str, str], Row] = {}
    for rows in runs:
        for row in rows:
            key = (row.bench, row.metric)
            first.setdefault(key, row)
            values.setdefault(key, []).append(row.value)
    return [
        Figure(r.bench, r.metric, r.unit, r.target, r.note, tuple(values[key]))
        for key, r in first.items()
    ]


def run_alone(run: Callable[[], Awaitable[list[Row]]]) -> None:
    """One run of one benchmark module started on its own (``python -m bench.sse``), as a table;
    ``python -m bench NAME`` is the usual way, with repeated runs and the report."""
    log.configure(LogSettings(level="error"))
    print_table(reduce([asyncio.run(run())]))


def print_table(figures: Sequence[Figure]) -> None:
    headers = ("benchmark", "metric", "median", "range", "unit", "target", "")
    cells = [
        headers,
        *[
            (
                f.bench,
                f.metric,
                _value_text(f.median),
                f.range_text(),
                f.unit,
                f.target,
                f.verdict().strip("*"),
            )
            for f in figures
        ],
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for n, row in enumerate(cells):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            models = [line.split(":", 1)[1] for line in info if line.startswith("model name")]
        cpu = models[0].strip() if models else cpu
    except OSError:
        pass
    memory_gib = psutil.virtual_memory().total / 2**30
    return (
        f"{cpu}, {os.cpu_count()} cores, {memory_gib:.0f} GiB; {platform.system()} "
        f"{platform.release()}; {platform.python_implementation()} {platform.python_version()}; "
        f"{_postgres_version()} (pgserver, embedded)"
    )


def _postgres_version() -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver
    binary = Path(pgserver.__file__).parent / "pginstall" / "bin" / "postgres"
    answer = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False)
    return f"Postgres {answer.stdout.strip().removeprefix('postgres (PostgreSQL) ')}"


@dataclass(frozen=True, slots=True)
class BenchResult:
    name: str
    summary: str  # the first line of the benchmark module's docstring
    runs: int
    wall_s: float
    figures: list[Figure]


def markdown(results: Sequence[BenchResult], command: str) -> str:
    """``BENCHMARKS.md``: how it was made, every target and whether it held, then each benchmark's
    figures."""
    judged = [f for r in results for f in r.figures if f.met is not None]
    missed = [f for f in judged if not f.met]
    lines = [
        "# Benchmarks",
        "",
        f"Generated by `{command}` on {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC. Do not edit "
        "it by hand: `make bench` writes it again.",
        "",
        f"- **Machine:** {machine()}.",
        "- **Figures:** the median of the runs (each benchmark says how many), with the range of "
        "the runs beside it. A ratio is taken inside each run, both sides measured side by side, "
        "because these machines are noisy; its median is the median of those ratios.",
        f"- **Targets:** {len(judged) - len(missed)} of {len(judged)} met.",
    ]
    for f in missed:
        why = f" {f.note}" if f.note else ""
        lines.append(
            f"  - Not met: {f.bench}, {f.metric}: {_value_text(f.median)} {f.unit} against "
            f"{f.target}.{why}"
        )
    for r in results:
        # A module measuring several things (one per provider, per mode) names each row's.
        parts = len({f.bench for f in r.figures}) > 1
        lines += [
            "",
            f"## {r.name}",
            "",
            r.summary,
            "",
            f"`python -m bench --runs {r.runs} {r.name}`: {r.runs} run{'s' * (r.runs > 1)}, "
            f"{r.wall_s:.0f} s in all.",
            "",
            f"| {'measured | ' * parts}metric | median | range of runs | unit | target | |",
            f"|{'---|' * parts}---|---:|---:|---|---|---|",
        ]
        for f in r.figures:
            lines.append(
                f"| {f'{f.bench} | ' * parts}{f.metric} | {_value_text(f.median)} | "
                f"{f.range_text()} | {f.unit} | {f.target} | {f.verdict()} |"
            )
        notes = [f for f in r.figures if f.note]
        if notes:
            lines.append("")
            lines += [f"- *{f.metric}*: {f.note}" for f in notes]
    return "\n".join(lines) + "\n"
