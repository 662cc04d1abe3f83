"""The planning-problem benchmark script (examples/bench_planners.py) as a user runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "bench_planners.py"


def test_a_missing_suite_file_is_one_line_and_no_results_folder(tmp_path):
    suite = tmp_path / "suite.json"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "run", str(suite), "--budgets", "0.1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and f"no suite file {suite}" in done.stderr
    assert not (tmp_path / "suite").exists()  # the default results folder next to the suite
