"""Device benchmark: training time per epoch and MPPI sequences per second, CPU against GPU, in one run;
with --closed-loop also the closed loop: MPPI on the GPU against the MILP planner on the CPU at the same
per-step budget.

    python examples/bench_device.py --closed-loop --out runs/bench_device
    python examples/bench_device.py --quick --closed-loop --out runs/bench_device_quick   # a check in ~2 minutes

Every part runs on each device lane: the CPU with 1 torch thread (as `sparsedyn control` runs), the CPU
with all cores (--cpu-threads), and the first CUDA GPU when torch sees one. A machine without one runs
the CPU lanes and says "no CUDA device" in the tables and the JSON. Ratios are measured in this run.

1. Training: collects pushing and sorting data (the exploration of make_checkpoints.sh and
   make_sorting_checkpoints.sh, fewer episodes), then times dense-training epochs (after one warm-up
   epoch) of `sparsedyn train`'s default MLP at batch 256 and at batch 4096, and of the graph model
   on 4 objects at batch 256.
2. Sampling throughput: MPPI on the bundled dense (128x128) and sparse (16 ReLU) pushing models and the
   sparse graph model on 4 objects, at 1024 and 16384 samples (--samples), horizon 8, from the first
   state of a held-out episode: sequences evaluated per second within a --seconds budget, after an
   untimed warm-up plan.
3. Closed loop (--closed-loop): held-out pushing episodes (env seeds SEED, SEED+1, ...) at one per-step
   budget: the MILP on the sparse model (CPU), MPPI on the sparse and dense models on the CPU (default
   256 samples) and on the GPU (default 4096 samples). CPU episodes run in parallel, one process and one
   thread each; GPU episodes run one at a time in this process, so that the GPU's time is the planner's.
   Each episode's planner is seeded with its env seed.

Writes OUT/bench_device.json (every figure, the machine, the settings) and OUT/bench_device.md (the
tables, also printed).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from multiprocessing import get_context
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy: the MILP's small matrices, as in the CLI

import numpy as np  # noqa: E402
import torch  # noqa: E402

CHECKPOINTS = Path(__file__).resolve().parent / "checkpoints"
MODELS = {  # throughput and closed-loop models: name -> checkpoint
    "dense": CHECKPOINTS / "pushing_dense.pt",
    "sparse": CHECKPOINTS / "pushing_sparse.pt",
    "graph": CHECKPOINTS / "sorting_graph_sparse.pt",
}
CLOSED_LOOP_RUNS = (
    ("milp", "sparse", "cpu"),
    ("mppi", "sparse", "cpu"),
    ("mppi", "dense", "cpu"),
    ("mppi", "sparse", "cuda"),
    ("mppi", "dense", "cuda"),
)
QUICK = {
    "data_episodes": 20,
    "epochs": 1,
    "samples": [256, 1024],
    "seconds": 0.5,
    "episodes": 2,
    "steps": 3,
    "time_limit": 0.2,
}


# --- device lanes ------------------------------------------------------------------------------------------


def lanes(cpu_threads: list[int]) -> list[dict]:
    """The (device, threads) pairs every part runs on: the CPU at each thread count, then the GPU if any."""
    found = [
        {"device": "cpu", "threads": threads, "label": f"cpu ({threads} thread{'s' * (threads > 1)})"}
        for threads in cpu_threads
    ]
    if torch.cuda.is_available():
        found.append({"device": "cuda", "threads": 1, "label": f"cuda ({torch.cuda.get_device_name(0)})"})
    return found


def machine() -> dict:
    cuda = None
    if torch.cuda.is_available():
        cuda = {
            "name": torch.cuda.get_device_name(0),
            "count": torch.cuda.device_count(),
            "cuda_version": torch.version.cuda,
        }
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu_count": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        "cuda": cuda,
        "cuda_note": None
        if cuda
        else (
            "no CUDA device found: "
            + ("this torch build has no CUDA support" if torch.version.cuda is None else "torch sees no GPU")
            + "; only the CPU side was measured"
        ),
    }


def synchronize(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


# --- 1. training ---------------------------------------------------------------------------------------------


def collect_data(episodes: int, workers: int) -> dict:
    from envs.collect import collect_transitions

    return {
        "pushing": collect_transitions("ObjectPushing-v0", episodes, 50, seed=0, workers=workers),
        "sorting": collect_transitions(
            "ObjectSorting-v0", episodes, 50, seed=0, workers=workers, env_kwargs={"num_objects": 4}
        ),
    }


def training_setups() -> dict:
    from dynamics.config import TrainConfig

    return {  # name -> (data, options): `sparsedyn train`'s defaults, and a batch that fills a GPU better
        "mlp 128x128, batch 256": ("pushing", TrainConfig()),
        "mlp 128x128, batch 4096": ("pushing", TrainConfig(batch_size=4096)),
        "graph 32x32 (4 objects), batch 256": ("sorting", TrainConfig(model="graph")),
    }


def time_training(data, config, lane: dict, epochs: int) -> dict:
    """Seconds per dense-training epoch (median of `epochs` after a warm-up epoch) on one lane."""
    from tqdm import tqdm

    from dynamics.train import TrainingRun

    torch.set_num_threads(lane["threads"])
    with tempfile.TemporaryDirectory() as folder:
        run = TrainingRun(data, config, Path(folder) / "model.pt", device=lane["device"])
        bar = tqdm(disable=True)
        run.run_epoch(bar)  # warm-up: allocations, kernels, cuBLAS
        seconds = []
        for _ in range(epochs):
            synchronize(lane["device"])
            started = time.perf_counter()
            run.run_epoch(bar)
            synchronize(lane["device"])
            seconds.append(time.perf_counter() - started)
    per_epoch = statistics.median(seconds)
    return {
        "seconds_per_epoch": per_epoch,
        "epochs_timed": epochs,
        "windows": len(run.window_starts),
        "windows_per_second": len(run.window_starts) / per_epoch,
    }


# --- 2. sampling throughput --------------------------------------------------------------------------------


def first_problem(checkpoint, horizon: int, time_limit: float, seed: int, env_kwargs: dict | None = None):
    """The control task of the checkpoint's env (with other options `env_kwargs`, e.g. another number of objects)
    from the first state of the held-out episode `seed`."""
    import gymnasium

    import envs  # noqa: F401  (registers the environments)
    from mpc.control.runner import env_metadata
    from mpc.control.task import ControlSettings, control_task, goal_features

    metadata = env_metadata(checkpoint.metadata, env_kwargs) if env_kwargs else checkpoint.metadata
    task = control_task(metadata, ControlSettings(horizon=horizon, time_limit=time_limit))
    env = gymnasium.make(metadata["env_id"], **metadata["env_kwargs"])
    observation, _ = env.reset(seed=seed)
    problem = task.problem(observation.astype(np.float64), goal_features(task, env.unwrapped.goal))
    env.close()
    return problem


def time_sampling(model, problem, samples: int, lane: dict, seconds: float) -> dict:
    """MPPI's sequences per second on one lane within a `seconds` budget, after a one-iteration warm-up."""
    from mpc.sampling.mppi import MPPIPlanner

    torch.set_num_threads(lane["threads"])
    planner = MPPIPlanner(model, samples=samples, seed=0, device=lane["device"], max_iterations=1)
    planner.plan(problem)  # warm-up
    planner.max_iterations = None
    plan = planner.plan(replace(problem, time_limit=seconds))
    evaluated, iterations = plan.extras["sequences_evaluated"], plan.extras["iterations"]
    return {
        "sequences_per_second": evaluated / plan.wall_time,
        "iterations": iterations,
        "ms_per_iteration": 1000 * plan.wall_time / iterations,
        "objective": plan.objective,
    }


# --- 3. closed loop ----------------------------------------------------------------------------------------


_CHECKPOINTS: dict = {}  # (checkpoint path, device) -> checkpoint with its model there, once per process


def loaded(path: str, device: str):
    from dynamics.checkpoint import load_checkpoint

    if (path, device) not in _CHECKPOINTS:
        checkpoint = load_checkpoint(path)
        checkpoint.model.to(device)
        _CHECKPOINTS[path, device] = checkpoint
    return _CHECKPOINTS[path, device]


def run_episode(planner_name: str, checkpoint_path: str, device: str, settings: dict, seed: int) -> dict:
    """One closed-loop episode with env seed and planner seed `seed` (a process-pool task for the CPU runs)."""
    from mpc.control.runner import run_closed_loop
    from mpc.control.task import ControlSettings
    from mpc.planners import make_fallback_planner, make_planner

    torch.set_num_threads(1)
    checkpoint = loaded(checkpoint_path, device)
    planner = make_planner(planner_name, checkpoint.model, seed=seed, device=device)
    results = run_closed_loop(
        planner,
        checkpoint.metadata,
        ControlSettings(**settings),
        1,
        seed,
        make_fallback_planner(checkpoint.model, seed, device),
        show_progress=False,
    )
    return results["episodes"][0]


def closed_loop(runs: list[tuple[str, str, str]], settings: dict, episodes: int, seed: int, workers: int) -> list[dict]:
    from mpc.control.results import summarise
    from mpc.planners import make_planner

    episodes_of: dict[tuple, list] = {}
    cpu_runs = [run for run in runs if run[2] == "cpu"]
    if cpu_runs:  # in parallel, one process and one thread per episode; spawned: CUDA may be live here
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            futures = {
                (run, episode): pool.submit(run_episode, run[0], str(MODELS[run[1]]), "cpu", settings, seed + episode)
                for run in cpu_runs
                for episode in range(episodes)
            }
            for (run, _), future in futures.items():
                episodes_of.setdefault(run, []).append(future.result())
    for run in runs:
        if run[2] == "cuda":  # one episode at a time in this process
            path = str(MODELS[run[1]])
            checkpoint = loaded(path, "cuda")
            problem = first_problem(checkpoint, settings["horizon"], settings["time_limit"], seed)
            make_planner(run[0], checkpoint.model, seed=0).plan(problem)  # warm-up, untimed
            episodes_of[run] = [
                run_episode(run[0], path, "cuda", settings, seed + episode) for episode in range(episodes)
            ]
        print(f"closed loop: {run[0]} / {run[1]} on {run[2]} done", file=sys.stderr, flush=True)
    rows = []
    for run in runs:
        summary = summarise(episodes_of[run])
        rows.append(
            {
                "planner": run[0],
                "model": run[1],
                "device": run[2],
                **summary,
                "episodes_detail": [
                    {key: episode[key] for key in ("seed", "initial_cost", "final_cost", "success")}
                    for episode in episodes_of[run]
                ],
            }
        )
    return rows


# --- tables --------------------------------------------------------------------------------------------------


def ratio(value: float, reference: float | None) -> str:
    return "" if reference in (None, 0) else f"{value / reference:.2f}x"


def tables(result: dict) -> str:
    note = result["machine"]["cuda_note"]
    cuda = result["machine"]["cuda"]
    lines = [f"# Device benchmark ({'GPU: ' + cuda['name'] if cuda else 'no CUDA device'})", ""]
    if note:
        lines += [f"**{note}.**", ""]
    lines += [f"torch {result['machine']['torch']}, {result['machine']['cpu_count']} CPU cores.", ""]
    if result["training"]:
        lines += [
            "## Training (dense epochs)",
            "",
            "| model, batch | device | s / epoch | windows / s | speed vs cpu (1 thread) |",
            "|---|---|---|---|---|",
        ]
        for row in result["training"]:
            reference = next(
                other["seconds_per_epoch"]
                for other in result["training"]
                if other["setup"] == row["setup"] and other["lane"] == result["lanes"][0]["label"]
            )
            lines.append(
                f"| {row['setup']} | {row['lane']} | {row['seconds_per_epoch']:.3f} | "
                f"{row['windows_per_second']:,.0f} | {ratio(reference, row['seconds_per_epoch'])} |"
            )
        lines.append("")
    if result["throughput"]:
        lines += [
            f"## MPPI sampling throughput (horizon {result['settings']['horizon']}, "
            f"{result['settings']['seconds']:g} s budget)",
            "",
            "| model | samples | device | sequences / s | ms / iteration | iterations | speed vs cpu (1 thread) |",
            "|---|---|---|---|---|---|---|",
        ]
        for row in result["throughput"]:
            reference = next(
                other["sequences_per_second"]
                for other in result["throughput"]
                if (other["model"], other["samples"]) == (row["model"], row["samples"])
                and other["lane"] == result["lanes"][0]["label"]
            )
            lines.append(
                f"| {row['model']} | {row['samples']} | {row['lane']} | {row['sequences_per_second']:,.0f} | "
                f"{row['ms_per_iteration']:.1f} | {row['iterations']} | "
                f"{ratio(row['sequences_per_second'], reference)} |"
            )
        lines.append("")
    if result["closed_loop"]:
        settings = result["settings"]["closed_loop"]
        lines += [
            f"## Closed loop: pushing, {settings['episodes']} held-out episodes (seeds {result['settings']['seed']}+), "
            f"{settings['steps']} steps, horizon {settings['horizon']}, {settings['time_limit']:g} s per step",
            "",
            "| planner | model | device | median final cost | IQR | success | median / max plan time (s) | fallbacks |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for row in result["closed_loop"]:
            lines.append(
                f"| {row['planner']} | {row['model']} | {row['device']} | {row['median_final_cost']:.2f} | "
                f"{row['final_cost_q25']:.2f}-{row['final_cost_q75']:.2f} | {row['success_rate']:.0%} | "
                f"{row['median_planning_time']:.3f} / {row['max_planning_time']:.3f} | "
                f"{row['fallback_steps']}/{row['steps']} |"
            )
        lines.append("")
    return "\n".join(lines)


# --- main ------------------------------------------------------------------------------------------------------


def parse_threads(text: str) -> list[int]:
    values = [os.cpu_count() if item == "all" else int(item) for item in text.split(",")]
    return list(dict.fromkeys(value for value in values if value >= 1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__
    )
    parser.add_argument("--out", type=Path, default=Path("runs/bench_device"), help="folder for the JSON and table")
    parser.add_argument(
        "--cpu-threads",
        type=parse_threads,
        default=parse_threads("1,all"),
        metavar="N,N",
        help="torch thread counts of the CPU lanes; 'all' is every core (default 1,all)",
    )
    parser.add_argument("--parts", default="training,throughput", help="training and/or throughput (comma-separated)")
    parser.add_argument("--data-episodes", type=int, default=200, help="episodes of 50 steps per training data set")
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs per training setup and lane")
    parser.add_argument("--samples", type=int, nargs="+", default=[1024, 16384], help="MPPI samples per iteration")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS), help="throughput models")
    parser.add_argument("--seconds", type=float, default=1.0, help="MPPI budget of each throughput measurement")
    parser.add_argument("--horizon", type=int, default=8)
    parser.add_argument("--closed-loop", action="store_true", help="also run the closed-loop comparison")
    parser.add_argument("--episodes", type=int, default=8, help="closed-loop episodes per planner")
    parser.add_argument("--steps", type=int, default=20, help="closed-loop steps per episode")
    parser.add_argument("--time-limit", type=float, default=0.5, help="closed-loop planning budget per step (s)")
    parser.add_argument("--seed", type=int, default=5000, help="first held-out env seed")
    parser.add_argument(
        "--quick", action="store_true", help="small settings to check that the script works: " + json.dumps(QUICK)
    )
    args = parser.parse_args(argv)
    if args.quick:
        for key, value in QUICK.items():
            setattr(args, key, value)
    parts = {part.strip() for part in args.parts.split(",") if part.strip()}
    args.out.mkdir(parents=True, exist_ok=True)

    device_lanes = lanes(args.cpu_threads)
    result = {
        "machine": machine(),
        "lanes": device_lanes,
        "training": [],
        "throughput": [],
        "closed_loop": None,
        "settings": {
            "horizon": args.horizon,
            "seconds": args.seconds,
            "samples": args.samples,
            "epochs": args.epochs,
            "data_episodes": args.data_episodes,
            "seed": args.seed,
        },
    }
    print(result["machine"]["cuda_note"] or f"CUDA device: {result['machine']['cuda']['name']}", file=sys.stderr)
    started = time.perf_counter()

    if "training" in parts:
        data = collect_data(args.data_episodes, os.cpu_count())
        for setup, (data_name, config) in training_setups().items():
            for lane in device_lanes:
                row = {
                    "setup": setup,
                    "lane": lane["label"],
                    "device": lane["device"],
                    "threads": lane["threads"],
                    "transitions": len(data[data_name]),
                    **time_training(data[data_name], config, lane, args.epochs),
                }
                result["training"].append(row)
                print(
                    f"training: {setup} on {lane['label']}: {row['seconds_per_epoch']:.3f} s/epoch",
                    file=sys.stderr,
                    flush=True,
                )

    if "throughput" in parts:
        from dynamics.checkpoint import load_checkpoint

        for name in args.models:
            checkpoint = load_checkpoint(MODELS[name])
            problem = first_problem(checkpoint, args.horizon, args.seconds, args.seed)
            for samples in args.samples:
                for lane in device_lanes:
                    row = {
                        "model": name,
                        "samples": samples,
                        "lane": lane["label"],
                        "device": lane["device"],
                        "threads": lane["threads"],
                        **time_sampling(checkpoint.model, problem, samples, lane, args.seconds),
                    }
                    result["throughput"].append(row)
                    print(
                        f"throughput: MPPI {name} K={samples} on {lane['label']}: "
                        f"{row['sequences_per_second']:,.0f} sequences/s",
                        file=sys.stderr,
                        flush=True,
                    )

    if args.closed_loop:
        settings = {"horizon": args.horizon, "time_limit": args.time_limit, "steps": args.steps}
        runs = [run for run in CLOSED_LOOP_RUNS if run[2] == "cpu" or torch.cuda.is_available()]
        torch.set_num_threads(1)
        result["closed_loop"] = closed_loop(runs, settings, args.episodes, args.seed, os.cpu_count())
        result["settings"]["closed_loop"] = {**settings, "episodes": args.episodes}

    result["seconds"] = time.perf_counter() - started
    table = tables(result)
    (args.out / "bench_device.json").write_text(json.dumps(result, indent=1))
    (args.out / "bench_device.md").write_text(table + "\n")
    print(table)
    print(
        f"wrote {args.out / 'bench_device.json'} and {args.out / 'bench_device.md'} in {result['seconds']:.0f} s",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
