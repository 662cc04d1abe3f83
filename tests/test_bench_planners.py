"""The planning-problem benchmark script (examples/bench_planners.py) as a user runs it."""

from __future__ import annotations

import json
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


def load_script():
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_planners", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_repeats_run_every_task_again_and_compare_planners_within_a_repeat(tmp_path):
    bench = load_script()
    suite = {"problems": [{"setting": "pushing16-h8", "problem": {}}, {"setting": "pushing16-h8", "problem": {}}]}
    tasks = bench.planning_tasks(suite, ["milp", "gd"], [0.5], "run", repeats=3)
    assert len(tasks) == 12
    assert sum("repeat" not in task for task in tasks) == 4  # the first repeat's tasks match older records
    assert sorted({task.get("repeat", 0) for task in tasks}) == [0, 1, 2]

    def record(index, planner, objective, repeat=0):
        task = {"kind": "run", "index": index, "setting": "pushing16-h8", "planner": planner, "time_limit": 0.5}
        return {"task": {**task, **({"repeat": repeat} if repeat else {})}, "objective": objective, "wall_time": 0.5}

    # milp is cheaper than gd in repeat 0 of problem 0, dearer in repeat 1: one win each there.
    records = [record(0, "milp", 1.0), record(0, "gd", 2.0), record(0, "milp", 3.0, 1), record(0, "gd", 2.5, 1)]
    bench.report(records, tmp_path)
    rows = {row["planner"]: row for row in json.loads((tmp_path / "summary.json").read_text())["rows"]}
    assert rows["milp"]["runs"] == rows["gd"]["runs"] == 2
    assert rows["milp"]["best"] == rows["gd"]["best"] == 1
    assert rows["milp"]["mean_ratio"] == (1.0 + 3.0) / 2  # best known of problem 0: 1.0
