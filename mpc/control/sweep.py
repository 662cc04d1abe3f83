"""Sweeps: many independent closed-loop episodes (planner x model x budget x horizon x seed) on Ray.

A closed-loop comparison is a grid of episodes that do not depend on each other. `run_sweep` runs
every episode of a `SweepSpec` as one Ray task (one CPU each; on all local cores by default, or on
an existing cluster given its address), appends each episode's record to a JSON Lines file the
moment it finishes, and skips the episodes already in that file: an interrupted sweep resumes
where it stopped. `aggregate` turns the records into one summary per (planner, model, budget,
horizon): median final cost with its IQR, success rate, plan time and budget overruns (steps whose
planning took more than 10% over the budget), and with obstacles (`"env_kwargs": {"obstacles": 2}`)
the episodes with a collision in the simulator and the plans that predicted one, written as a markdown
table, JSON and a plot of median final cost against budget per planner with IQR bands.

A spec is a JSON object (`sparsedyn sweep SPEC.json`):

    {"models": {"sparse": "examples/checkpoints/pushing_sparse.pt", "dense": "..."},
     "runs": [["milp", "sparse"], ["mppi", "sparse"], ["mppi", "dense"]],
     "time_limits": [0.5, 2.0], "horizons": [8], "episodes": 20, "seed": 5000, "steps": 30,
     "env_kwargs": {}, "settings": {}, "device": "auto", "samples": null, "tasks_per_gpu": 1}

`settings` sets the task's other weights for every episode, as `sparsedyn control`'s options do: any field
of mpc.control.task.ControlSettings but the three the spec has its own keys for (horizon, time_limit, steps)
and the disagreement weight (it needs a pair of models), e.g.
{"action_weight": 0.1, "obstacle_margin": 2.0, "obstacle_weight": 40}.

Model paths are relative to the spec file. Episode i of every run uses env seed `seed + i` (the
same initial states and goals for every planner) and planner seed `seed + i`.

Devices: the sampling planners (mpc.planners.DEVICE_PLANNERS) run on `device` ("auto": cuda if the
machine running the sweep has a GPU; set "cuda" for a remote cluster whose workers have one), the
MILP planners on the CPU; each task records the device it ran on. A GPU task reserves
1 / `tasks_per_gpu` of a GPU in Ray (Ray hides the GPUs from a task that reserves none): 1 (default)
runs one GPU episode at a time, so that the GPU's time within a step's budget is the planner's own.
A sweep that asks for "cuda" on a cluster without a GPU stops at once with one error line.
"""

from __future__ import annotations

import json
import os
import statistics
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from mpc.errors import MPCError

OVERRUN = 1.1  # a step whose planning took more than this times its budget overran it


# The settings a spec may give whose range is not "a non-negative number": (what it must be, the check).
SETTING_RANGES = {
    "obstacle_spacing": ("a positive number", lambda number: number > 0),
    "discount": ("a number in (0, 1]", lambda number: 0 < number <= 1),
}


@dataclass(frozen=True)
class SweepSpec:
    """What a sweep runs: every (planner, model) run at every budget and horizon, on `episodes` seeds.

    Args:
        models: model name -> checkpoint path.
        runs: (planner name, model name) pairs; planners as in mpc.planners.PLANNER_NAMES.
        time_limits: planning budgets per control step, in seconds.
        horizons: planning horizons, in control steps.
        episodes: episodes per (run, budget, horizon); episode i has env seed `seed + i`.
        seed: the first env seed (held-out seeds: training data uses SeedSequence-derived seeds).
        steps: control steps per episode.
        env_kwargs: env options replacing the models' own (e.g. {"num_objects": 6}).
        settings: ControlSettings fields for every episode (weights, obstacle margin and spacing), all but
            horizon, time_limit and steps; the rest keep their defaults.
        bounds: MILP bound mode; None: each MILP planner's default.
        device: "auto", "cpu" or "cuda": where the sampling planners run (the MILP's on the CPU).
        samples: K of the sampling planners (gd: starts); None: the device's default
            (mpc.sampling.defaults).
        tasks_per_gpu: GPU episodes that run at once on one GPU.

    Raises:
        MPCError: from `load`, for a spec that is not valid JSON or names unknown planners, models,
            settings, or non-positive counts and budgets, or an unknown device.
    """

    models: dict[str, str]
    runs: list[tuple[str, str]]
    time_limits: list[float]
    horizons: list[int] = field(default_factory=lambda: [8])
    episodes: int = 20
    seed: int = 5000
    steps: int = 30
    env_kwargs: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
    bounds: str | None = None
    device: str = "auto"
    samples: int | None = None
    tasks_per_gpu: int = 1

    @staticmethod
    def load(path: Path) -> SweepSpec:
        """Read and check a spec file; model paths become relative to its folder."""
        from dynamics.device import DEVICE_CHOICES
        from mpc.control.task import ControlSettings
        from mpc.planners import PLANNER_NAMES

        try:
            raw = json.loads(Path(path).read_text())
            spec = SweepSpec(**raw)
        except (OSError, json.JSONDecodeError, TypeError) as error:
            raise MPCError(f"cannot read sweep spec {path}: {error}") from error
        models = {name: str((Path(path).parent / model).resolve()) for name, model in spec.models.items()}
        runs = [tuple(run) for run in spec.runs]
        for run in runs:
            if len(run) != 2 or run[0] not in PLANNER_NAMES or run[1] not in models:
                raise MPCError(
                    f"sweep spec {path}: run {list(run)} is not [planner, model] with a planner of "
                    f"{', '.join(PLANNER_NAMES)} and a model of {', '.join(models)}"
                )
        numbers = [*spec.time_limits, *spec.horizons, spec.episodes, spec.steps]
        if (
            not runs
            or not spec.time_limits
            or not spec.horizons
            or not all(isinstance(value, (int, float)) and np.isfinite(value) and value > 0 for value in numbers)
        ):
            raise MPCError(
                f"sweep spec {path}: runs, time_limits and horizons must be non-empty, and every "
                "budget, horizon, episode and step count positive and finite"
            )
        own_keys = {"horizon", "time_limit", "steps"}  # the spec's own keys set these
        # A disagreement weight needs a pair of models (dynamics.disagreement); a sweep's run has one.
        settable = {f.name for f in fields(ControlSettings)} - own_keys - {"disagreement_weight"}
        if not isinstance(spec.settings, dict):
            raise MPCError(f"sweep spec {path}: settings must be a JSON object, got {spec.settings!r}")
        for key, value in spec.settings.items():
            if key not in settable:
                raise MPCError(
                    f"sweep spec {path}: settings key {key!r} is not one of {', '.join(sorted(settable))}"
                    + (" (the spec has its own key for it)" if key in own_keys else "")
                    + (" (it needs a pair of models; a sweep's run has one)" if key == "disagreement_weight" else "")
                )
            kind, fits = SETTING_RANGES.get(key, ("a non-negative number", lambda number: number >= 0))
            is_number = isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value)
            if not (is_number and fits(value)):
                raise MPCError(f"sweep spec {path}: settings {key} must be {kind}, got {value!r}")
        if spec.device not in DEVICE_CHOICES:
            raise MPCError(f"sweep spec {path}: device {spec.device!r} is not one of {', '.join(DEVICE_CHOICES)}")
        for name in ("samples", "tasks_per_gpu"):
            value = getattr(spec, name)
            if not (value is None and name == "samples") and not (type(value) is int and value > 0):
                raise MPCError(
                    f"sweep spec {path}: {name} must be a positive integer"
                    + (" or null" if name == "samples" else "")
                    + f", got {value!r}"
                )
        return SweepSpec(**{**asdict(spec), "models": models, "runs": runs})

    def tasks(self) -> list[dict]:
        """One task per episode: the parameters `run_episode_task` takes, with the device it runs on
        ("cpu" or "cuda": `device` resolved here for the sampling planners, "cpu" for the MILP's)."""
        return [
            {
                "planner": planner,
                "model": model,
                "checkpoint": self.models[model],
                "time_limit": float(time_limit),
                "horizon": int(horizon),
                "seed": self.seed + episode,
                "steps": self.steps,
                "env_kwargs": self.env_kwargs,
                "settings": self.settings,
                "bounds": self.bounds,
                "device": self.task_device(planner),
                "samples": self.samples,
            }
            for planner, model in self.runs
            for time_limit in self.time_limits
            for horizon in self.horizons
            for episode in range(self.episodes)
        ]

    def task_device(self, planner: str) -> str:
        """ "cpu" or "cuda": where a task of `planner` runs (see the module docstring)."""
        from mpc.planners import DEVICE_PLANNERS

        if planner not in DEVICE_PLANNERS or self.device == "cpu":
            return "cpu"
        if self.device == "cuda":
            return "cuda"
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"


def run_episode_task(task: dict) -> dict:
    """Run one closed-loop episode of a sweep (in a Ray worker) and return its record.

    The record holds the task, the initial and final task cost, success, the cost curve, every
    step's planning time and status, the counts of fallbacks and budget overruns, whether the episode
    had obstacles, and the counts of steps with a collision in the simulator and of plans predicting one.
    A task without "device", "samples" or "settings" (one recorded before they existed) runs on the CPU with
    the default samples and settings.
    """
    import torch

    from dynamics.device import resolve_device
    from mpc.control.runner import env_metadata, run_closed_loop
    from mpc.control.task import ControlSettings
    from mpc.planners import graph_objects, make_fallback_planner, make_planner

    torch.set_num_threads(1)
    device = resolve_device(task.get("device", "cpu"))
    checkpoint = _checkpoint(task["checkpoint"])
    metadata = env_metadata(checkpoint.metadata, task["env_kwargs"])
    planner = make_planner(
        task["planner"],
        checkpoint.model,
        seed=task["seed"],
        bounds=task["bounds"],
        num_objects=graph_objects(metadata),
        device=device,
        samples=task.get("samples"),
    )
    settings = ControlSettings(
        horizon=task["horizon"], time_limit=task["time_limit"], steps=task["steps"], **task.get("settings", {})
    )
    episode = run_closed_loop(
        planner,
        metadata,
        settings,
        1,
        task["seed"],
        make_fallback_planner(checkpoint.model, task["seed"], device),
        show_progress=False,
    )["episodes"][0]
    times = [step["planning_time"] for step in episode["steps"]]
    return {
        "task": task,
        "initial_cost": episode["initial_cost"],
        "final_cost": episode["final_cost"],
        "success": episode["success"],
        "cost_curve": episode["cost_curve"],
        "planning_times": times,
        "statuses": [step["status"] for step in episode["steps"]],
        "fallback_steps": sum(step["fallback"] for step in episode["steps"]),
        "overrun_steps": sum(time > OVERRUN * task["time_limit"] for time in times),
        "obstacles": bool(episode.get("obstacles")),
        "collision_steps": episode["collision_steps"],
        "predicted_collision_steps": sum(bool(step.get("predicted_collision")) for step in episode["steps"]),
    }


_CHECKPOINTS: dict = {}


def _checkpoint(path: str):
    """A worker loads each checkpoint once."""
    from dynamics.checkpoint import load_checkpoint

    if path not in _CHECKPOINTS:
        _CHECKPOINTS[path] = load_checkpoint(path)
    return _CHECKPOINTS[path]


def task_key(task: dict) -> str:
    """A task's identity in a results file; a task recorded before "device", "samples" and "settings" existed
    ran on the CPU with the default samples and settings, and matches the task that says so."""
    return json.dumps({"device": "cpu", "samples": None, "settings": {}, **task}, sort_keys=True)


def finished_records(results: Path) -> list[dict]:
    """The records already in a results file (JSON Lines); a torn last line (a killed run) is ignored."""
    if not results.exists():
        return []
    records = []
    for line in results.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def run_tasks(
    function,
    tasks: list[dict],
    results: Path,
    address: str | None = None,
    num_cpus: int | None = None,
    show_progress: bool = True,
    gpu_share: float = 1.0,
) -> list[dict]:
    """Run function(task) for every task not yet in `results` as a Ray task of one CPU; return all records.

    A task whose "device" is "cuda" also reserves `gpu_share` of a GPU (Ray shows a task only the GPUs
    it reserved).

    Each record (a dict holding "task") is appended to `results` as one JSON line as soon as its task
    finishes, so a run killed at any point keeps every finished task and resumes with the others.

    Args:
        function: a module-level function task -> record dict (Ray ships it to the workers).
        tasks: JSON-serialisable dicts, one per task.
        results: the JSON Lines file to append to (created if missing).
        address: an existing Ray cluster ("auto", or "host:port"); None starts a local one.
        num_cpus: CPUs of the local Ray instance (default: all cores); ignored with `address`.
        gpu_share: the part of a GPU a "cuda" task reserves (1 / tasks that share one GPU at a time).

    Raises:
        MPCError: Ray is not installed (`pip install -e ".[sweep]"` in the checkout), or a "cuda" task is pending and
            the Ray cluster has no GPU (it would wait forever).
    """
    try:
        import ray
    except ImportError as error:
        raise MPCError('sweeps run on Ray: pip install -e ".[sweep]" in the checkout') from error
    from tqdm import tqdm

    records = finished_records(results)
    done = {task_key(record["task"]) for record in records}
    pending = [task for task in tasks if task_key(task) not in done]
    if not pending:
        return records
    started_here = not ray.is_initialized()
    if started_here:
        # Local workers inherit this process's environment: BLAS on one thread, as each task gets one CPU.
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        # Ray lowers its workers' priority (nice 15) by default: timed episodes must not yield to other work.
        os.environ.setdefault("RAY_worker_niceness", "0")
        ray.init(
            address=address,
            num_cpus=None if address else (num_cpus or os.cpu_count()),
            include_dashboard=False,
            log_to_driver=False,
        )
    try:
        on_gpu = [task.get("device") == "cuda" for task in pending]
        if any(on_gpu) and not ray.cluster_resources().get("GPU", 0):
            raise MPCError(
                f"{sum(on_gpu)} task(s) run on device cuda, but the Ray cluster has no GPU; set "
                '"device": "cpu" (or "auto") in the sweep spec'
            )
        remote = ray.remote(num_cpus=1)(function)
        waiting = [remote.options(num_gpus=gpu_share if gpu else 0).remote(task) for task, gpu in zip(pending, on_gpu)]
        with (
            results.open("a") as file,
            tqdm(
                total=len(tasks),
                initial=len(tasks) - len(pending),
                desc="sweep",
                unit="task",
                disable=not show_progress,
            ) as progress,
        ):
            while waiting:
                ready, waiting = ray.wait(waiting, num_returns=1)
                record = ray.get(ready[0])
                file.write(json.dumps(record) + "\n")
                file.flush()
                records.append(record)
                progress.update(1)
    finally:
        if started_here:
            ray.shutdown()
    return records


def aggregate(records: list[dict]) -> list[dict]:
    """One summary per (planner, device, model, time limit, horizon), in the order the records first name them.

    Each summary: the group's keys (device: "cpu" for a record without one), episodes, median / q25 /
    q75 final cost, success rate, median and max planning time, steps, overrun steps (planning over 1.1x
    the budget), fallback steps, and with obstacles the episodes with a collision in the simulator and
    the plans predicting one.
    """
    groups: dict[tuple, list[dict]] = {}
    for record in records:
        task = record["task"]
        key = (task["planner"], task.get("device", "cpu"), task["model"], task["time_limit"], task["horizon"])
        groups.setdefault(key, []).append(record)
    summaries = []
    for (planner, device, model, time_limit, horizon), group in groups.items():
        final = [record["final_cost"] for record in group]
        times = [time for record in group for time in record["planning_times"]]
        q25, q75 = np.percentile(final, [25, 75])
        summaries.append(
            {
                "planner": planner,
                "device": device,
                "model": model,
                "time_limit": time_limit,
                "horizon": horizon,
                "episodes": len(group),
                "median_final_cost": statistics.median(final),
                "final_cost_q25": float(q25),
                "final_cost_q75": float(q75),
                "success_rate": sum(record["success"] for record in group) / len(group),
                "median_planning_time": statistics.median(times) if times else None,
                "max_planning_time": max(times) if times else None,
                "steps": len(times),
                "overrun_steps": sum(record["overrun_steps"] for record in group),
                "fallback_steps": sum(record["fallback_steps"] for record in group),
                "obstacles": any(record.get("obstacles") for record in group),
                "collision_episodes": sum(record.get("collision_steps", 0) > 0 for record in group),
                "predicted_collision_plans": sum(record.get("predicted_collision_steps", 0) for record in group),
            }
        )
    return summaries


def planner_label(row: dict) -> str:
    """The planner of a summary, with its device when that is not the CPU: "mppi", "mppi (cuda)"."""
    device = row.get("device", "cpu")
    return row["planner"] if device == "cpu" else f"{row['planner']} ({device})"


def sweep_table(summaries: list[dict]) -> str:
    """A markdown table of `aggregate`'s summaries (collision columns where any group had obstacles)."""
    obstacles = any(row.get("obstacles") for row in summaries)
    lines = [
        "| planner | model | budget (s) | H | episodes | median final cost | IQR | success | "
        "median plan time (s) | overruns | fallbacks |"
        + (" collision episodes | plans predicting a collision |" if obstacles else ""),
        "|---|---|---|---|---|---|---|---|---|---|---|" + "---|---|" * obstacles,
    ]
    for row in summaries:
        lines.append(
            f"| {planner_label(row)} | {row['model']} | {row['time_limit']:g} | {row['horizon']} | {row['episodes']} "
            f"| {row['median_final_cost']:.2f} | {row['final_cost_q25']:.2f}-{row['final_cost_q75']:.2f} "
            f"| {row['success_rate']:.0%} | {row['median_planning_time']:.3f} "
            f"| {row['overrun_steps']}/{row['steps']} | {row['fallback_steps']} |"
            + (
                f" {row['collision_episodes']} | {row['predicted_collision_plans']}/{row['steps']} |"
                if obstacles
                else ""
            )
        )
    return "\n".join(lines)


def plot_sweep(summaries: list[dict], path: Path) -> None:
    """Median final cost against budget per (planner, model, horizon), with IQR bands, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lines: dict[tuple, list[dict]] = {}
    for row in summaries:
        lines.setdefault((planner_label(row), row["model"], row["horizon"]), []).append(row)
    figure, axes = plt.subplots(figsize=(6.5, 4.5))
    for (planner, model, horizon), rows in lines.items():
        rows = sorted(rows, key=lambda row: row["time_limit"])
        budgets = [row["time_limit"] for row in rows]
        label = f"{planner} / {model}" + (f" H={horizon}" if len({key[2] for key in lines}) > 1 else "")
        (line,) = axes.plot(budgets, [row["median_final_cost"] for row in rows], marker="o", label=label)
        axes.fill_between(
            budgets,
            [row["final_cost_q25"] for row in rows],
            [row["final_cost_q75"] for row in rows],
            color=line.get_color(),
            alpha=0.15,
        )
    axes.set_xscale("log")
    axes.set_xlabel("planning budget per step (s)")
    axes.set_ylabel("final task cost (median, IQR band)")
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def run_sweep(
    spec: SweepSpec, out_dir: Path, address: str | None = None, num_cpus: int | None = None, show_progress: bool = True
) -> list[dict]:
    """Run (or resume) a sweep into `out_dir`: results.jsonl, summary.md, summary.json, cost_vs_budget.png.

    Returns `aggregate`'s summaries.

    Raises:
        EnvOptionsError: `spec.env_kwargs` that a model's env refuses, before any task starts.
        CheckpointError: a model file that does not load, likewise.
    """
    from dynamics.checkpoint import load_checkpoint
    from envs.files import write_atomically
    from mpc.control.runner import env_metadata

    for path in spec.models.values():  # a bad env option fails here, in one line, not in every Ray task
        env_metadata(load_checkpoint(path).metadata, spec.env_kwargs)
    out_dir.mkdir(parents=True, exist_ok=True)
    records = run_tasks(
        run_episode_task,
        spec.tasks(),
        out_dir / "results.jsonl",
        address,
        num_cpus,
        show_progress,
        1 / spec.tasks_per_gpu,
    )
    wanted = {task_key(task) for task in spec.tasks()}
    summaries = aggregate([record for record in records if task_key(record["task"]) in wanted])
    table = sweep_table(summaries)
    write_atomically(out_dir / "summary.md", lambda file: file.write((table + "\n").encode()), MPCError)
    write_atomically(
        out_dir / "summary.json", lambda file: file.write(json.dumps(summaries, indent=1).encode()), MPCError
    )
    plot_sweep(summaries, out_dir / "cost_vs_budget.png")
    return summaries
