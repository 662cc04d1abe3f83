"""The planning-problem benchmark script (examples/bench_planners.py) as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

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


@pytest.mark.slow  # a 2-step closed loop and two plans (about 5 s)
def test_the_pair_setting_records_priced_problems_every_planner_plans_on_the_pair():
    import torch

    from dynamics.disagreement import DisagreementDynamics

    bench = load_script()
    assert "pushing-pair-h8" not in bench.SUITE_SETTINGS  # not in the default suite
    checkpoint, _ = bench.setting_model("pushing-pair-h8")
    assert isinstance(checkpoint.model, DisagreementDynamics)
    torch.set_num_threads(1)
    recorded = bench.record_setting({"setting": "pushing-pair-h8", "seed": 5000, "steps": 2, "every": 2})
    (problem,) = recorded["problems"]
    assert recorded["steps"] == [1]  # every second step's problem, counted from 0
    assert problem["unobserved"] == 8 and len(problem["state"]) == 18 and not any(problem["state"][10:])
    # The disagreement entries' workspace is unbounded: written as "inf" strings (standard JSON), read as floats.
    assert problem["workspace_high"][10:] == ["inf"] * 8 and problem["workspace_low"][10:] == ["-inf"] * 8
    problem = json.loads(json.dumps(problem, allow_nan=False))
    read = bench.problem_from_json(problem, 0.2)
    assert np.isposinf(read.workspace_high[10:]).all() and np.isneginf(read.workspace_low[10:]).all()
    for planner in ("milp", "mppi"):
        task = {"setting": "pushing-pair-h8", "planner": planner, "problem": problem, "time_limit": 0.2, "index": 0}
        result = bench.plan_task(task)
        assert "error" not in result and result["objective"] > 0


def test_the_recorder_keeps_every_nth_problem_and_with_first_the_first_too():
    bench = load_script()

    class Counting:
        def plan(self, problem):
            return problem * 10

    for first, kept in ((False, [2, 5]), (True, [0, 2, 5])):
        recorder = bench.Recorder(Counting(), every=3, first=first)
        assert [recorder.plan(step) for step in range(7)] == [step * 10 for step in range(7)]  # MPPI plans them all
        assert recorder.problems == recorder.steps == kept  # the problems here are the step numbers
