"""The benchmark report judges each median against the target text its benchmark wrote."""

from __future__ import annotations

import pytest

from bench.common import Row
from bench.report import meets, reduce


@pytest.mark.parametrize(
    ("target", "value", "expected"),
    [
        (">= 40,000", 40_000.0, True),
        (">= 40,000", 38_081.5, False),
        ("<= 1.10", 1.08, True),
        ("<= 1.10", 1.11, False),
        ("< 250", 249.9, True),
        ("< 250", 250.0, False),
        ("< 1 ms", 0.01, True),
        ("<= 12,288 (12 KiB)", 12_225.0, True),
        ("<= 12,288 (12 KiB)", 12_300.0, False),
        ("0.90-1.00", 0.95, True),
        ("0.90-1.00", 1.01, False),
        ("1.00", 1.0004, True),  # an exact target is judged at its written precision
        ("1.00", 1.01, False),
        ("0", 0.0, True),
        ("0", 1.0, False),
        ("10,000", 10_000.0, True),
        ("", 5.0, None),
        ("ratio", 5.0, None),
    ],
)
def test_meets(target: str, value: float, expected: bool | None) -> None:
    assert meets(target, value) is expected


def test_reduce_takes_the_median_of_each_metric_over_the_runs() -> None:
    runs = [
        [Row("b", "rate", 10.0, "rows/s", ">= 11"), Row("b", "ratio", 2.0, "x")],
        [Row("b", "rate", 12.0, "rows/s", ">= 11"), Row("b", "ratio", 4.0, "x")],
        [Row("b", "rate", 30.0, "rows/s", ">= 11"), Row("b", "ratio", 3.0, "x")],
    ]
    rate, ratio = reduce(runs)
    assert (rate.metric, rate.median, rate.met) == ("rate", 12.0, True)
    assert rate.range_text() == "10 - 30"
    assert (ratio.median, ratio.met) == (3.0, None)
