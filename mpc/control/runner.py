"""Closed-loop episodes: a receding-horizon controller on the env a model was trained for.

Each episode resets the env with its own seed (initial state and goal both follow from it),
then alternates planning on the model and stepping the real simulator. Results are plain dicts
ready for JSON: per episode the initial and final task cost (the env's own cost) and success (a
final cost below the env's `success_threshold`), per step the planning time, objective, gap and
whether the controller fell back.

An env with obstacles (ObjectPushing-v0 with `obstacles=k`) reports them in `info` at reset: the
controller's task gets them for the episode (mpc.control.task.with_obstacles), and the records say,
per step, whether the object or the pusher touched one in the simulator and whether the plan
predicted a collision; per episode, the obstacles and the number of steps with a collision.
"""

from __future__ import annotations

import numpy as np
from tqdm import tqdm

import envs  # noqa: F401  (registers the environments)
from envs.collect import make_env
from mpc.control.controller import RecedingHorizonController
from mpc.control.results import summarise
from mpc.control.task import ControlSettings, control_task, goal_features, with_obstacles


def env_metadata(metadata: dict, env_kwargs: dict) -> dict:
    """The metadata of the model's env with other constructor options (e.g. another number of objects)."""
    env = make_env(metadata["env_id"], {**metadata["env_kwargs"], **env_kwargs}, max_episode_steps=None)
    described = env.unwrapped.dataset_metadata()
    env.close()
    return described


def run_episode(
    env,
    controller: RecedingHorizonController,
    seed: int,
    steps: int,
    frames: list | None = None,
    progress: tqdm | None = None,
    settings: ControlSettings | None = None,
) -> dict:
    """One seeded episode of at most `steps` control steps; appends rendered frames to `frames` if given.

    Args:
        env: a gymnasium env of this project (its unwrapped env has `goal` and `success_threshold`,
            and `info["cost"]` is its task cost; `info["obstacles"]`, if there, its obstacles).
        controller: plans every step; reset at the start of the episode, and given the episode's
            obstacles if the env has them.
        seed: the env seed of this episode (initial state, goal, obstacles).
        progress: advanced by one per step if given.
        settings: how the planners keep out of obstacles (ControlSettings' obstacle fields); None: the
            defaults.
    """
    observation, info = env.reset(seed=seed)
    if "obstacles" in info:
        controller.task = with_obstacles(
            controller.task,
            env.unwrapped.dataset_metadata(),
            info["obstacles"],
            observation.astype(np.float64),
            settings or ControlSettings(),
        )
    goal = goal_features(controller.task, env.unwrapped.goal)
    controller.reset()
    costs = [float(info["cost"])]
    records = []
    if frames is not None:
        frames.append(env.render())
    for _ in range(steps):
        action, record = controller.act(observation.astype(np.float64), goal)
        observation, _, terminated, truncated, info = env.step(action.astype(np.float32))
        costs.append(float(info["cost"]))
        collisions = {key: bool(info[key]) for key in ("object_collision", "pusher_collision") if key in info}
        records.append({**record.as_dict(), "task_cost": costs[-1], **collisions})
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
        "collision_steps": sum(
            any(record.get(key) for key in ("object_collision", "pusher_collision")) for record in records
        ),
        **(
            {"obstacles": [np.asarray(polygon).tolist() for polygon in info["obstacles"]]}
            if "obstacles" in info
            else {}
        ),
    }


def run_closed_loop(
    planner,
    metadata: dict,
    settings: ControlSettings,
    episodes: int,
    seed: int,
    fallback_planner=None,
    video_frames: list | None = None,
    show_progress: bool = True,
) -> dict:
    """Run `episodes` seeded episodes (seeds seed, seed+1, ...); Ctrl-C keeps the finished ones.

    Args:
        planner: anything with plan(PlanningProblem) -> Plan (see mpc.planners.make_planner).
        metadata: the dataset metadata of the env to run (the model's, or env_metadata's).
        settings: horizon, time limit per step, steps per episode and cost weights (control_task).
        fallback_planner: warm-starts the first step of every episode (make_fallback_planner).
        video_frames: if given, receives the rendered frames of the first episode.
        show_progress: a tqdm bar over all steps.

    Returns:
        {"episodes": [run_episode's dict, ...], "summary": results.summarise(episodes),
         "interrupted": whether Ctrl-C stopped the run}.

    Raises:
        ProblemError: the task made of `metadata` and `settings` is malformed (a planner's own
            failures do not stop the run: the controller falls back).
    """
    env = make_env(metadata["env_id"], {**metadata["env_kwargs"], "render_mode": "rgb_array"}, settings.steps)
    controller = RecedingHorizonController(planner, control_task(metadata, settings), fallback_planner)
    finished = []
    interrupted = False
    with tqdm(total=episodes * settings.steps, desc="control", unit="step", disable=not show_progress) as progress:
        try:
            for episode in range(episodes):
                frames = video_frames if episode == 0 else None
                finished.append(
                    run_episode(env, controller, seed + episode, settings.steps, frames, progress, settings)
                )
        except KeyboardInterrupt:
            interrupted = True
    env.close()
    return {"episodes": finished, "summary": summarise(finished), "interrupted": interrupted}
