"""Benchmark: environment steps per second, single process and with collection parallelism.

    python examples/bench_envs.py [--episodes 200] [--steps 50] [--json bench_envs.json]

Prints a table and writes the same figures as JSON. Rows:
  env.step (raw)       the bare env, random actions, one process
  env.step (make)      the env behind gymnasium.make's wrappers
  collect, N workers   collect_transitions with the exploration policy (includes pool start-up)
"""

from __future__ import annotations

import argparse
import json
import os
import time

import gymnasium
import numpy as np

import envs
from envs.collect import collect_transitions

ENV_ID = "sparsedyn/ObjectPushing-v0"


def time_random_steps(env: gymnasium.Env, steps: int, seed: int) -> float:
    """Steps per second of random actions, resetting every 50 steps (resets are timed too)."""
    rng = np.random.default_rng(seed)
    actions = rng.uniform(env.action_space.low, env.action_space.high, (steps, 2)).astype(np.float32)
    start = time.perf_counter()
    for t in range(steps):
        if t % 50 == 0:
            env.reset(seed=seed + t)
        env.step(actions[t])
    return steps / (time.perf_counter() - start)


def time_collection(episodes: int, steps: int, seed: int, workers: int) -> tuple[float, float, float]:
    """Steps per second, wall time and moved fraction of one collection run."""
    start = time.perf_counter()
    data = collect_transitions(ENV_ID, episodes, steps, seed=seed, workers=workers)
    seconds = time.perf_counter() - start
    return len(data) / seconds, seconds, data.metadata["moved_fraction"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default="bench_envs.json", help="where to write the results")
    args = parser.parse_args()
    total = args.episodes * args.steps

    rows = [
        {
            "case": "env.step (raw)",
            "workers": 1,
            "steps_per_s": time_random_steps(envs.ObjectPushingEnv(), total, args.seed),
        },
        {
            "case": "env.step (make)",
            "workers": 1,
            "steps_per_s": time_random_steps(gymnasium.make(ENV_ID, max_episode_steps=None), total, args.seed),
        },
    ]
    worker_counts = sorted({1, 2, os.cpu_count() or 1})
    for workers in worker_counts:
        steps_per_s, seconds, moved = time_collection(args.episodes, args.steps, args.seed, workers)
        rows.append(
            {
                "case": f"collect, {workers} worker{'s' if workers > 1 else ''}",
                "workers": workers,
                "steps_per_s": steps_per_s,
                "seconds": seconds,
                "moved_fraction": moved,
            }
        )
    single = next(row["steps_per_s"] for row in rows if row["case"] == "collect, 1 worker")
    for row in rows:
        if row["case"].startswith("collect"):
            row["speedup_vs_1_worker"] = row["steps_per_s"] / single

    print(f"ObjectPushing-v0, {args.episodes} episodes x {args.steps} steps = {total} steps, {os.cpu_count()} CPUs")
    print(f"{'case':<22}{'steps/s':>10}{'seconds':>10}{'speedup':>10}{'moved':>8}")
    for row in rows:
        seconds = f"{row['seconds']:.2f}" if "seconds" in row else "-"
        speedup = f"{row['speedup_vs_1_worker']:.2f}" if "speedup_vs_1_worker" in row else "-"
        moved = f"{row['moved_fraction']:.1%}" if "moved_fraction" in row else "-"
        print(f"{row['case']:<22}{row['steps_per_s']:>10.0f}{seconds:>10}{speedup:>10}{moved:>8}")
    result = {
        "env_id": ENV_ID,
        "episodes": args.episodes,
        "steps": args.steps,
        "seed": args.seed,
        "cpu_count": os.cpu_count(),
        "rows": rows,
    }
    with open(args.json, "w") as f:
        json.dump(result, f, indent=2)
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
