"""Prediction error against ReLU count: the dense model and sparse targets side by side (pushing by default).

    python examples/sparsity_figures.py                      # collects runs/pushing/data.npz first
    python examples/sparsity_figures.py --data my_data.npz --targets 64,32,16,8
    python examples/sparsity_figures.py --env RopeShaping-v0 --episodes 400 --model graph --targets 32,16,8 \
        --out-dir runs/rope-graph                            # the rope's graph model

Trains one dense model and one model per ReLU target with the `sparsedyn train` defaults and the model
options given (same seed, so every run holds out the same validation episodes), saves OUT_DIR/dense.pt and
OUT_DIR/relu{N}.pt, prints a markdown table of neuron counts and held-out one-step and 8-step rollout
errors, and writes it as JSON. Finished checkpoints are reused on a rerun.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from dynamics.cli import parse_hidden
from dynamics.train import TrainConfig, train
from envs.dataset import load_transitions
from mpc.main import main as sparsedyn


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, help="transition file (default: collect OUT_DIR/data.npz)")
    parser.add_argument("--env", default="ObjectPushing-v0", help="env to collect from (default %(default)s)")
    parser.add_argument(
        "--episodes", type=int, default=200, help="episodes of 50 steps to collect (default %(default)s)"
    )
    parser.add_argument("--targets", default="64,32,16,8", help="ReLU targets (default %(default)s)")
    parser.add_argument("--out-dir", type=Path, default=Path("runs/pushing"), help="(default %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", default="mlp", help="mlp or graph (default %(default)s)")
    parser.add_argument("--hidden", type=parse_hidden, help="hidden widths, e.g. 32,32 (default: the model's)")
    parser.add_argument("--message-dim", type=int, help="graph only (default: the model's)")
    parser.add_argument("--message-penalty", type=float, help="graph only (default: the model's)")
    return parser.parse_args()


def collect(path: Path, env: str, episodes: int, seed: int) -> None:
    command = ["collect", env, "--episodes", str(episodes), "--steps", "50", "--seed", str(seed), "--out", str(path)]
    print("sparsedyn " + " ".join(command), flush=True)
    if sparsedyn(command) != 0:
        raise SystemExit("collection failed")


def main() -> None:
    args = parse_args()
    torch.set_num_threads(1)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    data_path = args.data or args.out_dir / "data.npz"
    if args.data is None and not data_path.exists():
        collect(data_path, args.env, args.episodes, args.seed)
    transitions = load_transitions(data_path)
    options = {
        name: getattr(args, name)
        for name in ("hidden", "message_dim", "message_penalty")
        if getattr(args, name) is not None
    }
    flags = " ".join(
        f"--{name.replace('_', '-')} {','.join(map(str, value)) if name == 'hidden' else value}"
        for name, value in {"model": args.model, **options}.items()
    )

    rows = []
    for target in [None] + [int(value) for value in args.targets.split(",")]:
        name = "dense" if target is None else f"relu{target}"
        out = args.out_dir / f"{name}.pt"
        print(
            f"sparsedyn train {data_path} {flags}{'' if target is None else f' --relu-target {target}'} "
            f"--seed {args.seed} --out {out}",
            flush=True,
        )
        started = time.perf_counter()
        config = TrainConfig(model=args.model, relu_target=target, seed=args.seed, **options)
        result = train(transitions, config, out, resume=True)
        metrics = result.info["metrics"]["dense" if target is None else "sparse"]
        rows.append(
            {
                "model": f"{args.model} {name}",
                "checkpoint": str(out),
                **result.info["kind_counts"],
                "one_step_rmse": metrics["one_step_rmse"],
                "rollout_rmse": metrics["rollout_rmse"],
                "rollout_steps": metrics["rollout_steps"],
                "train_seconds": result.info["train_seconds"],
                "wall_seconds_this_call": time.perf_counter() - started,
            }
        )

    dense = rows[0]
    steps = dense["rollout_steps"]
    print(
        f"\ndata: {data_path} ({len(transitions)} transitions), errors: RMSE over all state entries in cm, "
        f"{result.info['data']['validation_episodes']} held-out episodes\n"
    )
    print(
        f"| model | ReLU | identity | zero | one-step RMSE | {steps}-step RMSE | {steps}-step vs dense | train time |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        row["rollout_ratio_to_dense"] = row["rollout_rmse"] / dense["rollout_rmse"]
        print(
            f"| {row['model']} | {row['relu']} | {row['identity']} | {row['zero']} | {row['one_step_rmse']:.3f} | "
            f"{row['rollout_rmse']:.3f} | {row['rollout_ratio_to_dense']:.2f}x | {row['train_seconds']:.0f} s |"
        )
    report = args.out_dir / "sparsity.json"
    report.write_text(json.dumps({"data": str(data_path), "transitions": len(transitions), "rows": rows}, indent=2))
    print(f"\nwrote {report}")


if __name__ == "__main__":
    main()
