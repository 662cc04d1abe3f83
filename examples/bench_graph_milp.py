"""Graph-model MILP size and solve time against the number of objects and the horizon.

For every N and H, plans from a few seeded sorting states (env seeds SEED, SEED+1, ...) with the
graph model frozen for N objects and the control cost of `sparsedyn control`, in each bound mode,
and records binaries after bounds, bound and build time, solve time, gap and status. Prints a
markdown table (medians over the problems) and writes JSON.

    python examples/bench_graph_milp.py --objects 2 4 6 --horizons 2 4 6 --time-limit 20
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # small matrices; spinning BLAS threads only slow a busy machine

import statistics  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from dynamics.checkpoint import load_checkpoint  # noqa: E402
from envs.collect import make_env  # noqa: E402
from mpc.cli import EXAMPLES  # noqa: E402
from mpc.control.results import save_json  # noqa: E402
from mpc.control.task import ControlSettings, control_task, goal_features  # noqa: E402
from mpc.milp.planner import BOUND_MODES, MILPPlanner  # noqa: E402
from mpc.planners import frozen_dynamics  # noqa: E402


def plan_once(model, num_objects: int, horizon: int, bounds: str, seed: int, time_limit: float) -> dict:
    """One planning problem from the seeded start of a sorting episode with N objects."""
    env = make_env("ObjectSorting-v0", {"num_objects": num_objects}, None)
    state, _ = env.reset(seed=seed)
    metadata = env.unwrapped.dataset_metadata()
    graph = frozen_dynamics(model, num_objects)
    planner = MILPPlanner(graph, graph.state_dim, graph.action_dim, bounds=bounds)
    task = control_task(metadata, ControlSettings(horizon=horizon, time_limit=time_limit))
    problem = task.problem(state.astype(np.float64), goal_features(task, env.unwrapped.goal))
    plan = planner.plan(problem)
    env.close()
    return {
        "objects": num_objects, "horizon": horizon, "bounds": bounds, "seed": seed,
        "binaries": plan.binaries, "status": plan.status, "gap": plan.gap, "objective": plan.objective,
        "bound_time": plan.extras["bound_time"], "build_time": plan.build_time,
        "solve_time": plan.extras["solve_time"], "nodes": plan.node_count,
        "columns": plan.extras["columns"], "rows": plan.extras["rows"],
    }  # fmt: skip


def table(results: list[dict]) -> str:
    lines = [
        "| N | H | bounds | binaries | solved | median solve (s) | median gap | bounds + build (s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    keys = sorted({(r["objects"], r["horizon"], r["bounds"]) for r in results})
    for objects, horizon, bounds in keys:
        group = [r for r in results if (r["objects"], r["horizon"], r["bounds"]) == (objects, horizon, bounds)]
        solved = sum(r["status"] == "optimal" for r in group)
        lines.append(
            f"| {objects} | {horizon} | {bounds} | {statistics.median(r['binaries'] for r in group):.0f} "
            f"| {solved}/{len(group)} | {statistics.median(r['solve_time'] for r in group):.2f} "
            f"| {statistics.median(r['gap'] for r in group):.3f} "
            f"| {statistics.median(r['build_time'] for r in group):.3f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=EXAMPLES / "checkpoints" / "sorting_graph_sparse.pt")
    parser.add_argument("--objects", type=int, nargs="+", default=[2, 4, 6])
    parser.add_argument("--horizons", type=int, nargs="+", default=[2, 4, 6])
    parser.add_argument("--bounds", nargs="+", default=list(BOUND_MODES), choices=BOUND_MODES)
    parser.add_argument("--problems", type=int, default=3, help="seeded start states per size")
    parser.add_argument("--seed", type=int, default=7000)
    parser.add_argument("--time-limit", type=float, default=20.0, help="per plan: bounds, build and solve (s)")
    parser.add_argument("--out", type=Path, default=Path("bench_graph_milp.json"))
    args = parser.parse_args()

    torch.set_num_threads(1)
    model = load_checkpoint(args.model).model
    results = []
    for num_objects in args.objects:
        for horizon in args.horizons:
            for bounds in args.bounds:
                for problem in range(args.problems):
                    results.append(plan_once(model, num_objects, horizon, bounds, args.seed + problem, args.time_limit))
                    print(results[-1], flush=True)
    print(table(results))
    save_json({"model": str(args.model), "time_limit": args.time_limit, "results": results}, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
