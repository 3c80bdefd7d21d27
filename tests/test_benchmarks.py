"""The benchmarks still run: every module they import imports, and a fast subset runs end to
end (one run each) and writes numbers. `make bench` runs them all, with the baseline beside."""

from __future__ import annotations

import json
import subprocess
import sys

from benchmarks import run as bench
from tests.helpers import REPO, needs_root


def test_every_benchmark_is_listed_and_the_smoke_subset_is_a_part():
    assert set(bench.SMOKE) <= set(bench.BENCHMARKS)
    baseline = json.loads(bench.BASELINE.read_text())
    missing = [name for name in bench.BENCHMARKS if name not in baseline]
    assert not missing, f"benchmarks without a baseline in {bench.BASELINE.name}: {missing}"


@needs_root
def test_the_smoke_benchmarks_run_and_write_numbers(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, "-m", "benchmarks.run", "--smoke", "--out", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(out.read_text())
    for name in bench.SMOKE:
        numbers = bench._numbers(result[name])
        # Times are never negative; memory is a difference of MemAvailable, which labs of tests
        # running beside this one move either way.
        times = {k: v for k, v in numbers.items() if k.endswith("_s")}
        assert times and all(v >= 0 for v in times.values()), (name, result[name])
