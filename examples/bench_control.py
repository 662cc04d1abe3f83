"""Closed-loop benchmark: every planner at the same per-step time budget, on a dense and a sparse model.

Runs seeded held-out episodes (env seeds SEED, SEED+1, ...; training data is collected with
seeds derived by SeedSequence, so these initial states and goals were never trained or tuned on)
for: MILP on the sparse model (alone, and warm-started by CEM within the same budget); MPPI and
CEM on the sparse model; MPPI, CEM and gradient descent on the dense model. Prints a markdown
table and writes JSON with every episode. Defaults: the bundled pushing models.

    python examples/bench_control.py --episodes 20 --time-limit 0.5 --out runs/bench_control.json

Sorting with the bundled graph models, trained on 4 objects, run on 6:

    python examples/bench_control.py --dense examples/checkpoints/sorting_graph_dense.pt \
        --sparse examples/checkpoints/sorting_graph_sparse.pt --env-kwargs '{"num_objects": 6}'

Rope shaping with the bundled rope graph models (the MILP encodes the rope's chain graph):

    python examples/bench_control.py --dense examples/checkpoints/rope_graph_dense.pt \
        --sparse examples/checkpoints/rope_graph_sparse.pt --time-limit 2
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from dynamics.checkpoint import load_checkpoint
from envs.cli import parse_env_kwargs
from mpc.cli import DEMO_MODELS, check_model_fits
from mpc.control.results import save_json, summary_table
from mpc.control.runner import env_metadata, run_closed_loop
from mpc.control.task import ControlSettings
from mpc.planners import graph_objects, make_fallback_planner, make_planner

RUNS = (
    ("milp", "sparse"),
    ("milp-cem", "sparse"),
    ("mppi", "sparse"),
    ("cem", "sparse"),
    ("mppi", "dense"),
    ("cem", "dense"),
    ("gd", "dense"),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dense", type=Path, default=DEMO_MODELS["dense"])
    parser.add_argument("--sparse", type=Path, default=DEMO_MODELS["sparse"])
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--seed", type=int, default=5000)
    parser.add_argument("--horizon", type=int, default=8)
    parser.add_argument("--time-limit", type=float, default=0.5)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--runs", default=",".join(f"{p}:{m}" for p, m in RUNS), help="planner:model pairs")
    parser.add_argument("--env-kwargs", default="{}", metavar="JSON", help="env options other than the models' own")
    parser.add_argument(
        "--bounds", default=None, help="MILP bounds: interval, linear or lp (default: each planner's own)"
    )
    parser.add_argument("--out", type=Path, default=Path("bench_control.json"))
    args = parser.parse_args()

    torch.set_num_threads(1)
    models = {"dense": load_checkpoint(args.dense), "sparse": load_checkpoint(args.sparse)}
    settings = ControlSettings(horizon=args.horizon, time_limit=args.time_limit, steps=args.steps)
    summaries, runs = {}, {}
    env_kwargs = parse_env_kwargs(args.env_kwargs)
    for pair in args.runs.split(","):
        planner_name, model_name = pair.split(":")
        checkpoint = models[model_name]
        metadata = env_metadata(checkpoint.metadata, env_kwargs)
        check_model_fits(checkpoint.model, metadata)
        label = f"{planner_name} / {model_name} ({checkpoint.info['kind_counts']['relu']} ReLU)"
        planner = make_planner(
            planner_name, checkpoint.model, seed=args.seed, bounds=args.bounds, num_objects=graph_objects(metadata)
        )
        results = run_closed_loop(
            planner, metadata, settings, args.episodes, args.seed, make_fallback_planner(checkpoint.model, args.seed)
        )
        summaries[label], runs[label] = results["summary"], results
        print(summary_table({label: results["summary"]}).splitlines()[-1], flush=True)
    print(summary_table(summaries))
    save_json(
        {
            "settings": settings.__dict__,
            "episodes": args.episodes,
            "seed": args.seed,
            "env_kwargs": env_kwargs,
            "bounds": args.bounds,
            "summaries": summaries,
            "runs": runs,
        },
        args.out,
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
