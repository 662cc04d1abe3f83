"""Sweeps: the spec, the aggregate, and a small sweep on Ray that resumes where it stopped."""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium
import numpy as np
import pytest
import torch

import envs  # noqa: F401
from dynamics.checkpoint import save_checkpoint
from dynamics.mlp import MLPDynamics
from mpc.control.sweep import (
    SweepSpec,
    aggregate,
    finished_records,
    plot_sweep,
    run_episode_task,
    run_sweep,
    sweep_table,
    task_key,
)
from mpc.errors import MPCError
from mpc.main import main

CHECKPOINTS = Path(__file__).resolve().parent.parent / "examples" / "checkpoints"


def write_spec(folder: Path, **fields) -> Path:
    spec = {
        "models": {"sparse": str(CHECKPOINTS / "pushing_sparse.pt")},
        "runs": [["mppi", "sparse"]],
        "time_limits": [0.05],
        "horizons": [2],
        "episodes": 1,
        "seed": 5000,
        "steps": 2,
    } | fields
    path = folder / "spec.json"
    path.write_text(json.dumps(spec))
    return path


def test_spec_expands_to_one_task_per_episode_and_refuses_mistakes(tmp_path):
    spec = SweepSpec.load(
        write_spec(
            tmp_path, runs=[["mppi", "sparse"], ["milp", "sparse"]], time_limits=[0.1, 0.5], horizons=[4, 8], episodes=3
        )
    )
    tasks = spec.tasks()
    assert len(tasks) == 2 * 2 * 2 * 3
    assert {task["seed"] for task in tasks} == {5000, 5001, 5002}
    assert all(Path(task["checkpoint"]).is_absolute() for task in tasks)
    assert all(task["settings"] == {} for task in tasks)
    for mistake in (
        {"runs": [["nope", "sparse"]]},
        {"runs": [["mppi", "other"]]},
        {"time_limits": [0]},
        {"horizons": []},
        {"episodes": -1},
        {"unknown": 1},
    ):
        with pytest.raises(MPCError):
            SweepSpec.load(write_spec(tmp_path, **mistake))
    for settings, message in (
        ({"horizon": 4}, "'horizon' is not one of .* own key"),
        ({"action_wieght": 0.1}, "'action_wieght' is not one of action_weight, discount, obstacle_margin"),
        ({"obstacle_margin": -1}, "obstacle_margin must be a non-negative number, got -1"),
        ({"obstacle_spacing": 0}, "obstacle_spacing must be a positive number"),
        ({"discount": 0}, "discount must be a number in \\(0, 1\\], got 0"),
        ({"discount": 1.5}, "discount must be a number in \\(0, 1\\], got 1.5"),
        ({"action_weight": "0.1"}, "action_weight must be"),
        ({"action_weight": True}, "action_weight must be"),
        ({"disagreement_weight": 1}, "'disagreement_weight' is not one of .* pair of models"),
        ([0.1], "must be a JSON object"),
    ):
        with pytest.raises(MPCError, match=message):
            SweepSpec.load(write_spec(tmp_path, settings=settings))
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(MPCError, match="cannot read"):
        SweepSpec.load(tmp_path / "bad.json")


def record(planner: str, time_limit: float, final: float, times: list[float]) -> dict:
    task = {"planner": planner, "model": "m", "time_limit": time_limit, "horizon": 8}
    return {
        "task": task,
        "final_cost": final,
        "success": final < 2,
        "planning_times": times,
        "fallback_steps": 0,
        "overrun_steps": sum(t > 1.1 * time_limit for t in times),
    }


def test_aggregate_gives_medians_iqr_success_and_overruns_per_group(tmp_path):
    records = [record("milp", 0.5, cost, [0.5, 0.6]) for cost in (1.0, 2.0, 3.0, 10.0)]
    records += [record("mppi", 0.5, 4.0, [0.5]), record("mppi", 2.0, 1.0, [2.0])]
    summaries = aggregate(records)
    assert [(row["planner"], row["time_limit"]) for row in summaries] == [("milp", 0.5), ("mppi", 0.5), ("mppi", 2.0)]
    milp = summaries[0]
    assert milp["episodes"] == 4 and milp["median_final_cost"] == 2.5
    assert milp["final_cost_q25"] == 1.75 and milp["final_cost_q75"] == 4.75
    assert milp["success_rate"] == 0.25 and milp["overrun_steps"] == 4 and milp["steps"] == 8
    table = sweep_table(summaries)
    assert "| milp | m | 0.5 | 8 | 4 | 2.50 | 1.75-4.75 | 25% |" in table and "4/8" in table
    plot_sweep(summaries, tmp_path / "plot.png")
    assert (tmp_path / "plot.png").stat().st_size > 0


def test_a_torn_last_line_is_ignored(tmp_path):
    results = tmp_path / "results.jsonl"
    results.write_text(json.dumps({"task": {"a": 1}}) + "\n" + '{"task": {"a"')
    assert finished_records(results) == [{"task": {"a": 1}}]


@pytest.mark.slow
def test_a_sweep_on_ray_writes_every_episode_and_resumes(tmp_path):
    out = tmp_path / "out"
    spec = SweepSpec.load(write_spec(tmp_path, runs=[["mppi", "sparse"], ["random", "sparse"]]))
    run_sweep(spec, out, num_cpus=2, show_progress=False)
    first = finished_records(out / "results.jsonl")
    assert len(first) == 2 and {record["task"]["planner"] for record in first} == {"mppi", "random"}
    assert all(len(record["planning_times"]) == 2 and len(record["cost_curve"]) == 3 for record in first)
    # Two episodes instead of one: only the new ones run, the finished ones stay as they were.
    spec = SweepSpec.load(write_spec(tmp_path, runs=[["mppi", "sparse"], ["random", "sparse"]], episodes=2))
    summaries = run_sweep(spec, out, num_cpus=2, show_progress=False)
    second = finished_records(out / "results.jsonl")
    assert len(second) == 4 and second[:2] == first
    assert [row["episodes"] for row in summaries] == [2, 2]
    for name in ("summary.md", "summary.json", "cost_vs_budget.png"):
        assert (out / name).stat().st_size > 0


def test_the_sweep_command_refuses_a_bad_spec_and_an_output_that_is_a_file(tmp_path, capsys):
    spec = write_spec(tmp_path, runs=[["nope", "sparse"]])
    assert main(["sweep", str(spec), "--out", str(tmp_path / "out")]) == 1
    assert "nope" in capsys.readouterr().err
    (tmp_path / "file").write_text("")
    assert main(["sweep", str(write_spec(tmp_path)), "--out", str(tmp_path / "file")]) == 1
    assert "is a file" in capsys.readouterr().err
    # An env option the model's env refuses: one line, before Ray starts or any result is written.
    bad = write_spec(tmp_path, env_kwargs={"obstacles": 2, "obstacle_radius": 5.0})
    assert main(["sweep", str(bad), "--out", str(tmp_path / "bad")]) == 1
    error = capsys.readouterr().err
    assert "obstacle_radius must be from 1 to 4 cm" in error and "Traceback" not in error
    assert not (tmp_path / "bad").exists()


def test_an_episode_task_with_obstacles_records_collisions_and_the_table_shows_them(tmp_path):
    metadata = gymnasium.make("sparsedyn/ObjectPushing-v0").unwrapped.dataset_metadata(seed=0)
    torch.manual_seed(0)
    model = MLPDynamics(10, 2, hidden=(8,)).eval()
    model.set_kinds([np.array([2, 2, 1, 0, 2, 1, 1, 2])])
    path = tmp_path / "model.pt"
    save_checkpoint(path, model, metadata, info={})
    task = {
        "planner": "mppi",
        "model": "small",
        "checkpoint": str(path),
        "time_limit": 0.1,
        "horizon": 2,
        "seed": 5,
        "steps": 2,
        "env_kwargs": {"obstacles": 1},
        "bounds": None,
    }
    record = run_episode_task(task)
    assert record["obstacles"] and record["collision_steps"] in (0, 1, 2)
    assert 0 <= record["predicted_collision_steps"] <= 2
    (summary,) = aggregate([record, {**record, "task": {**task, "seed": 6}, "collision_steps": 1}])
    assert summary["collision_episodes"] == 1 + (record["collision_steps"] > 0)
    assert summary["predicted_collision_plans"] == 2 * record["predicted_collision_steps"]
    table = sweep_table([summary])
    assert "collision episodes" in table and f"| {summary['collision_episodes']} |" in table
    assert "collision" not in sweep_table([{**summary, "obstacles": False}])


def test_spec_settings_reach_every_episode_s_task(tmp_path, monkeypatch):
    import mpc.control.runner

    spec = SweepSpec.load(write_spec(tmp_path, settings={"action_weight": 0.5, "obstacle_margin": 2}))
    (task,) = spec.tasks()
    assert task["settings"] == {"action_weight": 0.5, "obstacle_margin": 2}
    seen = []

    def closed_loop(planner, metadata, settings, *args, **kwargs):
        seen.append(settings)
        raise RuntimeError("stop after the settings")

    monkeypatch.setattr(mpc.control.runner, "run_closed_loop", closed_loop)
    with pytest.raises(RuntimeError, match="stop after"):
        run_episode_task(task)
    assert seen[0].action_weight == 0.5 and seen[0].obstacle_margin == 2 and seen[0].steps == 2
    assert task_key({k: v for k, v in task.items() if k != "settings"}) == task_key(task | {"settings": {}})
