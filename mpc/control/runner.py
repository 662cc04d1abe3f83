"""Closed-loop episodes: a receding-horizon controller on the env a model was trained for.

Each episode resets the env with its own seed (initial state and goal both follow from it),
then alternates planning on the model and stepping the real simulator. Results are plain dicts
ready for JSON: per episode the initial and final task cost (the env's own cost) and success (a
final cost below the env's `success_threshold`), per step the planning time, objective, gap and
whether the controller fell back.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

import envs  # noqa: F401  (registers the environments)
from envs.collect import make_env
from mpc.control.controller import CostWeights, RecedingHorizonController
from mpc.control.task import ControlSettings


def task_weights(metadata: dict, settings: ControlSettings) -> CostWeights:
    """The planning cost of a task: L1 distance of the goal entries (object keypoints) to the goal,
    plus, where the state has a pusher, a small L1 "reach" term on the pusher's offset from the
    centre of the goal entries. Without it the cost is flat until the pusher touches the object,
    and no planner can see which way to go from farther than its horizon.
    """
    layout, goal_indices = metadata["state_layout"], list(metadata["goal_indices"])
    rows = np.eye(len(layout))[goal_indices]
    running = np.full(len(goal_indices), settings.running_weight)
    terminal = np.full(len(goal_indices), settings.terminal_weight)
    if {"pusher_x", "pusher_y"} <= set(layout) and settings.reach_weight > 0:
        reach = np.zeros((2, len(layout)))
        for row, axis in enumerate("xy"):
            reach[row, layout.index(f"pusher_{axis}")] = 1.0
            entries = [index for index in goal_indices if layout[index].endswith(f"_{axis}")]
            reach[row, entries] = -1.0 / len(entries)
        rows = np.vstack([rows, reach])
        running = np.append(running, [settings.reach_weight] * 2)
        terminal = np.append(terminal, [settings.reach_weight] * 2)
    return CostWeights(state=running, terminal=terminal, action=settings.action_weight, matrix=rows)


def env_metadata(metadata: dict, env_kwargs: dict) -> dict:
    """The metadata of the model's env with other constructor options (e.g. another number of objects)."""
    env = make_env(metadata["env_id"], {**metadata["env_kwargs"], **env_kwargs}, max_episode_steps=None)
    described = env.unwrapped.dataset_metadata()
    env.close()
    return described


def make_controller(planner, metadata: dict, settings: ControlSettings, fallback_planner=None) -> RecedingHorizonController:
    return RecedingHorizonController(
        planner,
        horizon=settings.horizon,
        action_low=np.asarray(metadata["action_low"]),
        action_high=np.asarray(metadata["action_high"]),
        weights=task_weights(metadata, settings),
        time_limit=settings.time_limit,
        workspace_low=np.asarray(metadata["workspace_low"]),
        workspace_high=np.asarray(metadata["workspace_high"]),
        fallback_planner=fallback_planner,
    )


def goal_features(env, weights: CostWeights) -> np.ndarray:
    """The env's goal in cost-feature order: the goal entries, then zero offset for any reach term."""
    goal = np.zeros(weights.matrix.shape[0])
    goal[: len(env.unwrapped.goal)] = env.unwrapped.goal
    return goal


def run_episode(env, controller: RecedingHorizonController, seed: int, steps: int,
                frames: list | None = None, progress: tqdm | None = None) -> dict:
    """One seeded episode; appends rendered frames to `frames` if given."""
    observation, info = env.reset(seed=seed)
    goal = goal_features(env, controller.weights)
    controller.reset()
    costs = [float(info["cost"])]
    records = []
    if frames is not None:
        frames.append(env.render())
    for _ in range(steps):
        action, record = controller.act(observation.astype(np.float64), goal)
        observation, _, terminated, truncated, info = env.step(action.astype(np.float32))
        costs.append(float(info["cost"]))
        records.append({**record.as_dict(), "task_cost": costs[-1]})
        if frames is not None:
            frames.append(env.render())
        if progress is not None:
            progress.update(1)
        if terminated:
            break
    return {
        "seed": seed,
        "initial_cost": costs[0],
        "final_cost": costs[-1],
        "success": costs[-1] < env.unwrapped.success_threshold,
        "success_threshold": env.unwrapped.success_threshold,
        "cost_curve": costs,
        "steps": records,
    }


def run_closed_loop(planner, metadata: dict, settings: ControlSettings, episodes: int, seed: int,
                    fallback_planner=None, video_frames: list | None = None, show_progress: bool = True) -> dict:
    """Run `episodes` seeded episodes (seeds seed, seed+1, ...); Ctrl-C keeps the finished ones.

    video_frames, if given, receives the rendered frames of the first episode.
    """
    env = make_env(metadata["env_id"], {**metadata["env_kwargs"], "render_mode": "rgb_array"}, settings.steps)
    controller = make_controller(planner, metadata, settings, fallback_planner)
    finished = []
    interrupted = False
    with tqdm(total=episodes * settings.steps, desc="control", unit="step", disable=not show_progress) as progress:
        try:
            for episode in range(episodes):
                frames = video_frames if episode == 0 else None
                finished.append(run_episode(env, controller, seed + episode, settings.steps, frames, progress))
        except KeyboardInterrupt:
            interrupted = True
    env.close()
    return {"episodes": finished, "summary": summarise(finished), "interrupted": interrupted}


def summarise(episodes: list[dict]) -> dict:
    """Medians and spreads over finished episodes."""
    if not episodes:
        return {"episodes": 0}
    final = [episode["final_cost"] for episode in episodes]
    times = [step["planning_time"] for episode in episodes for step in episode["steps"]]
    fallbacks = sum(step["fallback"] for episode in episodes for step in episode["steps"])
    warm_started = [step for episode in episodes for step in episode["steps"] if step.get("sampled_objective") is not None]
    improved = sum(step["objective"] < step["sampled_objective"] - 1e-9 for step in warm_started)
    quartiles = np.percentile(final, [25, 75])
    return {
        "episodes": len(episodes),
        "median_initial_cost": statistics.median(episode["initial_cost"] for episode in episodes),
        "median_final_cost": statistics.median(final),
        "final_cost_q25": float(quartiles[0]),
        "final_cost_q75": float(quartiles[1]),
        "success_rate": sum(episode["success"] for episode in episodes) / len(episodes),
        "success_threshold": episodes[0]["success_threshold"],
        "median_planning_time": statistics.median(times) if times else None,
        "max_planning_time": max(times) if times else None,
        "fallback_steps": int(fallbacks),
        "milp_improved_steps": int(improved) if warm_started else None,  # over the sampled warm start
        "steps": len(times),
    }


def save_gif(frames: list[np.ndarray], path, fps: int = 10) -> None:
    """Write rendered rgb_array frames as an animated GIF."""
    images = [Image.fromarray(frame) for frame in frames]
    images[0].save(path, save_all=True, append_images=images[1:], duration=round(1000 / fps), loop=0)


def save_json(data: dict, path) -> None:
    """Write results as strict JSON (NaN becomes null), atomically."""
    path = Path(path)
    text = json.dumps(_finite(data), indent=1)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(handle, "w") as file:
        file.write(text)
    os.replace(tmp, path)


def _finite(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    if isinstance(value, np.generic):
        return _finite(value.item())
    return value


def summary_table(summaries: dict[str, dict]) -> str:
    """A markdown table: one row per labelled run summary."""
    lines = [
        "| run | episodes | median final cost | IQR | success | median plan time (s) | fallbacks |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, summary in summaries.items():
        if not summary.get("episodes"):
            lines.append(f"| {label} | 0 | - | - | - | - | - |")
            continue
        lines.append(
            f"| {label} | {summary['episodes']} | {summary['median_final_cost']:.2f} "
            f"| {summary['final_cost_q25']:.2f}-{summary['final_cost_q75']:.2f} "
            f"| {summary['success_rate']:.0%} | {summary['median_planning_time']:.3f} | {summary['fallback_steps']} |"
        )
    return "\n".join(lines)
