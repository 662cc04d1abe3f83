"""A sweep's episode task and its summaries (without Ray: the task runs in this process)."""

import gymnasium
import numpy as np
import torch

import envs  # noqa: F401
from dynamics.checkpoint import save_checkpoint
from dynamics.mlp import MLPDynamics
from mpc.control.sweep import aggregate, run_episode_task, sweep_table


def test_an_episode_task_with_obstacles_records_collisions_and_the_table_shows_them(tmp_path):
    metadata = gymnasium.make("sparsedyn/ObjectPushing-v0").unwrapped.dataset_metadata(seed=0)
    torch.manual_seed(0)
    model = MLPDynamics(10, 2, hidden=(8,)).eval()
    model.set_kinds([np.array([2, 2, 1, 0, 2, 1, 1, 2])])
    path = tmp_path / "model.pt"
    save_checkpoint(path, model, metadata, info={})
    task = {"planner": "mppi", "model": "small", "checkpoint": str(path), "time_limit": 0.1, "horizon": 2, "seed": 5,
            "steps": 2, "env_kwargs": {"obstacles": 1}, "bounds": None}
    record = run_episode_task(task)
    assert record["obstacles"] and record["collision_steps"] in (0, 1, 2)
    assert 0 <= record["predicted_collision_steps"] <= 2
    (summary,) = aggregate([record, {**record, "task": {**task, "seed": 6}, "collision_steps": 1}])
    assert summary["collision_episodes"] == 1 + (record["collision_steps"] > 0)
    assert summary["predicted_collision_plans"] == 2 * record["predicted_collision_steps"]
    table = sweep_table([summary])
    assert "collision episodes" in table and f"| {summary['collision_episodes']} |" in table
    assert "collision" not in sweep_table([{**summary, "obstacles": False}])
