"""Anytime benchmark: every planner on one suite of recorded planning problems, at several budgets.

Three steps, each resumable (results are appended as tasks finish; run on Ray, one task per core):

    python examples/bench_planners.py record --out runs/suite.json
    python examples/bench_planners.py reference runs/suite.json --time-limit 20
    python examples/bench_planners.py run runs/suite.json --budgets 0.1 0.5 2 5

`record` runs an MPPI controller (0.5 s per step) on held-out env seeds (5000, 5001, ...) for every
setting below and keeps the planning problem of every `--every`-th step, warm start (the shifted
previous plan) included. `reference` runs every planner on every problem with a long budget;
`run` runs every planner at every budget and reports each objective's ratio to the best known
value of its problem: the lowest objective any planner reached on it, reference runs included.
The tables (markdown), the records (JSON Lines) and a plot of mean ratio against budget per
planner go to the --out folder. Also counted: bounds above the best known value (a false lower
bound: must be 0) and budget overruns (wall time above 1.1x the budget).

Planner variants for the relaxation study: "NAME[@BOUNDS][+FEATURE...]" (FEATURES below), e.g.
"milp@lp", "milp-exact+cuts". A fourth, untimed step reports the strength of each variant's program:
the LP relaxation's bound as a fraction of the best known value (1: exact), with the binaries and the
time its bounds and cuts take:

    python examples/bench_planners.py relaxation runs/suite.json --planners milp-exact@lp milp-exact@lp+cuts

Settings: pushing with the bundled 16-ReLU model and the 32- and 64-ReLU models of
examples/checkpoints/make_checkpoints.sh at H = 4 and 8; sorting with the bundled 8-ReLU graph
model on 4 objects at H = 4. Outside the default suite, `--settings pushing-pair-h8`: the bundled 60-ReLU
model and its second seed as a pair, the task paying 1 per cm of their disagreement (docs/control.md).
The budget check (does every MILP step end within 1.1x its budget on every bundled model?) runs on the
dense models and the rope's graph models (BUDGET_SETTINGS):

    python examples/bench_planners.py record --settings pushing-dense-h8 sorting-dense-h4 rope-h8 rope-dense-h8 \
        --out runs/suite_budget.json
    python examples/bench_planners.py run runs/suite_budget.json --planners milp milp-exact milp-cem --budgets 0.1 0.5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy: one BLAS thread per task

import numpy as np  # noqa: E402

CHECKPOINTS = Path(__file__).resolve().parent / "checkpoints"
SETTINGS = {  # name -> checkpoint, horizon, env options
    "pushing16-h4": ("pushing_sparse.pt", 4, {}),
    "pushing16-h8": ("pushing_sparse.pt", 8, {}),
    "pushing32-h4": ("pushing_relu32.pt", 4, {}),
    "pushing32-h8": ("pushing_relu32.pt", 8, {}),
    "pushing64-h4": ("pushing_relu64.pt", 4, {}),
    "pushing64-h8": ("pushing_relu64.pt", 8, {}),
    # The closed-loop benchmark's 60-ReLU model (on-policy data; `sparsedyn demo`, bench_model_gap.py). Not in the
    # default suite.
    "pushing60-h8": ("pushing_onpolicy_relu64.pt", 8, {}),
    # The bundled 60-ReLU model and its second seed as a pair whose disagreement the task prices
    # (mpc.control.task.DISAGREEMENT_WEIGHT per cm; dynamics.disagreement): "FIRST+SECOND" names a pair. Not in
    # the default suite.
    "pushing-pair-h8": ("pushing_onpolicy_relu64.pt+pushing_onpolicy_relu64_seed1.pt", 8, {}),
    "sorting4-h4": ("sorting_graph_sparse.pt", 4, {"num_objects": 4}),
    # For the budget check only (how far a MILP step overruns its budget): the dense models and the rope's.
    "pushing-dense-h8": ("pushing_dense.pt", 8, {}),
    "sorting-dense-h4": ("sorting_graph_dense.pt", 4, {"num_objects": 4}),
    "rope-h8": ("rope_graph_sparse.pt", 8, {}),
    "rope-dense-h8": ("rope_graph_dense.pt", 8, {}),
}
BUDGET_SETTINGS = ("pushing-dense-h8", "sorting-dense-h4", "rope-h8", "rope-dense-h8")
SUITE_SETTINGS = [name for name in SETTINGS if name not in (*BUDGET_SETTINGS, "pushing60-h8", "pushing-pair-h8")]
PLANNERS = ("milp", "milp-exact", "milp-exact-scip", "milp-cem", "mppi", "cem", "random", "gd")
SOLVER_SUFFIX = "-scip"  # "milp-exact-scip": milp-exact with SCIP's branch-and-bound (mpc.milp.scip)
# Variants for the relaxation study: "NAME[@BOUNDS][+FEATURE...]", e.g. "milp@lp", "milp-exact+cuts+heuristics".
FEATURES = {  # feature -> make_planner options
    "cuts": {"cut_rounds": 3},  # 3 rounds of ideal single-neuron cuts (mpc.milp.cuts)
    "heuristics": {"highs_options": {"mip_heuristic_effort": 0.3}},  # HiGHS's default: 0.05
    "heuristics-max": {"highs_options": {"mip_heuristic_effort": 1.0}},
    "gd": {"anytime_samplers": ("cem", "mppi", "gd")},  # gradient descent's paths as starts after CEM's and MPPI's
    # MPPI's round first (from the warm start), then gradient descent's and CEM's: on a first step far from the object
    # (the cost flat but for the reach term) only MPPI's averaged samples reach contact (docs/benchmarks.md).
    "mppi-first": {"anytime_samplers": ("mppi", "gd", "cem")},
    # MPPI for 60% of the budget, then the exact descent and branch-and-bound within 0.5 cm of its plan per action
    # entry (mpc.milp.anytime's trust region): MPPI picks the basin, the program refines its plan (docs/benchmarks.md).
    "mppi-trust": {"anytime_samplers": ("mppi",), "trust_region": 0.5, "sampling_share": 0.6, "round_time": 3600.0},
    # The anytime planner's samplers and rounds before gradient descent's paths became its first starts.
    "cem-mppi": {"anytime_samplers": ("cem", "mppi"), "sampling_share": 0.25, "round_time": 0.125},
    # The anytime planner without its constant-sequence starts (mpc.milp.anytime.constant_sequences): as before them.
    "no-constants": {"constant_starts": False},
    # ... and with region descents that only cross the boundaries at each optimum (no line search beyond it).
    "no-extrapolation": {"extrapolate": False},
    # The MILP's neuron bounds cut to the model's recorded data ranges (not sound: mpc.milp.bounds.data_ranges;
    # its bounds are then no proven bounds, so "false lower bounds" may be counted for it).
    "ranges": {"data_ranges": True},
    # HiGHS's feasibility jump even where a start is offered (mpc.milp.highs.START_OFF_OPTIONS: off since
    # it was seen to ignore the time limit), to measure that choice side by side.
    "jump": {"highs_options": {"mip_heuristic_run_feasibility_jump": True}},
}


def planner_options(spec: str) -> tuple[str, dict]:
    """("milp-exact", {"solver": "scip", "bounds": "lp", "cut_rounds": 3}) from "milp-exact-scip@lp+cuts".

    Raises:
        KeyError: an unknown feature.
    """
    head, *features = spec.split("+")
    name, _, bounds = head.partition("@")
    options = {"bounds": bounds} if bounds else {}
    if name.endswith(SOLVER_SUFFIX):
        name, options["solver"] = name.removesuffix(SOLVER_SUFFIX), "scip"
    for feature in features:
        options.update(FEATURES[feature])
    return name, options


def planner_spec(text: str) -> str:
    from mpc.milp.bounds.modes import BOUND_MODES
    from mpc.planners import PLANNER_NAMES

    try:
        name, options = planner_options(text)
    except KeyError:
        name, options = None, {}
    if name not in PLANNER_NAMES or options.get("bounds", "lp") not in BOUND_MODES:
        raise argparse.ArgumentTypeError(
            f"{text!r}: planners are {', '.join(PLANNERS)}, optionally @interval, @linear or @lp, then "
            f"+FEATURE for any of {', '.join(FEATURES)}"
        )
    return text


OVERRUN = 1.1


# --- problems as JSON ------------------------------------------------------------------------------


def problem_to_json(problem) -> dict:
    from dataclasses import fields

    def plain(value):
        if isinstance(value, np.ndarray):
            return plain(value.tolist())
        if isinstance(value, (tuple, list)):
            return [plain(item) for item in value]
        if isinstance(value, float) and not np.isfinite(value):
            return str(value)  # "inf" (an unbounded workspace entry): standard JSON; read back as a float
        return value

    return {field.name: plain(getattr(problem, field.name)) for field in fields(problem)}


def problem_from_json(data: dict, time_limit: float):
    from mpc.problem import PlanningProblem

    data = dict(data, time_limit=time_limit)
    if data["state_constraints"] is not None:
        data["state_constraints"] = tuple(np.asarray(part) for part in data["state_constraints"])
    return PlanningProblem(**data)


# --- record ------------------------------------------------------------------------------------------


class Recorder:
    """A planner that keeps the problems it is given every `every`-th call (and the first, with `first`), and lets
    MPPI plan them."""

    def __init__(self, planner, every: int, first: bool = False) -> None:
        self.planner, self.every, self.first, self.calls = planner, every, first, 0
        self.problems, self.steps = [], []  # the kept problems and their control steps (0: the episode's first)

    def plan(self, problem):
        if self.calls % self.every == self.every - 1 or (self.first and self.calls == 0):
            self.problems.append(problem)
            self.steps.append(self.calls)
        self.calls += 1
        return self.planner.plan(problem)


def record_setting(task: dict) -> dict:
    """Closed-loop MPPI episodes of one setting; returns the recorded problems."""
    import torch

    from dynamics.disagreement import DisagreementDynamics
    from mpc.control.runner import env_metadata, run_closed_loop
    from mpc.control.task import DISAGREEMENT_WEIGHT, ControlSettings
    from mpc.planners import make_fallback_planner, make_planner

    torch.set_num_threads(1)
    _, horizon, env_kwargs = SETTINGS[task["setting"]]
    checkpoint, _ = setting_model(task["setting"])
    metadata = env_metadata(checkpoint.metadata, env_kwargs)
    recorder = Recorder(
        make_planner("mppi", checkpoint.model, seed=task["seed"]), task["every"], task.get("first", False)
    )
    settings = ControlSettings(
        horizon=horizon,
        time_limit=0.5,
        steps=task["steps"],
        disagreement_weight=DISAGREEMENT_WEIGHT if isinstance(checkpoint.model, DisagreementDynamics) else 0.0,
    )
    run_closed_loop(
        recorder,
        metadata,
        settings,
        1,
        task["seed"],
        make_fallback_planner(checkpoint.model, task["seed"]),
        show_progress=False,
    )
    return {
        "task": task,
        "problems": [problem_to_json(problem) for problem in recorder.problems],
        "steps": recorder.steps,
    }


def record(args: argparse.Namespace) -> None:
    from mpc.control.sweep import run_tasks

    tasks = [
        {"setting": setting, "seed": args.seed + episode, "steps": args.steps, "every": args.every}
        | ({"first": True} if args.first else {})  # without it, the tasks of records made before the option
        for setting in args.settings
        for episode in range(args.episodes)
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)  # e.g. runs/ in a fresh clone
    records = run_tasks(record_setting, tasks, args.out.with_suffix(".record.jsonl"), num_cpus=args.num_cpus)
    problems = [
        {"setting": record["task"]["setting"], "seed": record["task"]["seed"], "step": step, "problem": problem}
        for record in sorted(records, key=lambda record: (record["task"]["setting"], record["task"]["seed"]))
        # records made before steps were kept: None
        for problem, step in zip(record["problems"], record.get("steps", [None] * len(record["problems"])))
    ]
    args.out.write_text(
        json.dumps({"settings": {name: SETTINGS[name] for name in args.settings}, "problems": problems})
    )
    print(f"recorded {len(problems)} problems to {args.out}")


# --- planning tasks ------------------------------------------------------------------------------------

_CHECKPOINTS: dict = {}


def setting_model(setting: str):
    """The checkpoint of a setting (loaded once per worker) and the objects its graph model's MILP encodes. A pair
    ("FIRST+SECOND") is the first checkpoint with its model replaced by the pair's DisagreementDynamics."""
    import dataclasses

    from dynamics.checkpoint import load_checkpoint
    from dynamics.disagreement import DisagreementDynamics
    from mpc.control.runner import env_metadata
    from mpc.planners import graph_objects

    checkpoint_name, _, env_kwargs = SETTINGS[setting]
    if checkpoint_name not in _CHECKPOINTS:
        first, *second = (load_checkpoint(CHECKPOINTS / name) for name in checkpoint_name.split("+"))
        if second:
            first = dataclasses.replace(first, model=DisagreementDynamics.of_checkpoints(first, second[0]))
        _CHECKPOINTS[checkpoint_name] = first
    checkpoint = _CHECKPOINTS[checkpoint_name]
    return checkpoint, graph_objects(env_metadata(checkpoint.metadata, env_kwargs))


REPEAT_SEED_STRIDE = 1000  # a repeat's planner seed: problem index + REPEAT_SEED_STRIDE x repeat


def plan_task(task: dict) -> dict:
    """One planner on one suite problem at one budget (in a Ray worker)."""
    import torch

    from mpc.errors import MPCError
    from mpc.planners import make_planner

    torch.set_num_threads(1)
    checkpoint, num_objects = setting_model(task["setting"])
    name, options = planner_options(task["planner"])
    problem = problem_from_json(task["problem"], task["time_limit"])
    try:  # a feature the model lacks (+ranges without recorded ranges) is an error of the task, as a failed plan
        seed = task["index"] + REPEAT_SEED_STRIDE * task.get("repeat", 0)
        planner = make_planner(name, checkpoint.model, seed=seed, num_objects=num_objects, **options)
        plan = planner.plan(problem)
    except MPCError as error:
        return {"task": {**task, "problem": None}, "error": f"{error.__class__.__name__}: {error}"}
    return {
        "task": {**task, "problem": None},
        "objective": plan.objective,
        "wall_time": plan.wall_time,
        "status": plan.status,
        "best_bound": plan.best_bound,
        "gap": plan.gap,
        "binaries": plan.binaries,
        "outside_data_ranges": plan.extras.get("outside_data_ranges"),
    }


def relaxation_task(task: dict) -> dict:
    """The LP relaxation's bound of one suite problem's program in one variant (bounds, cuts), untimed."""
    import torch

    from mpc.errors import MPCError
    from mpc.milp.cuts import tighten_with_cuts
    from mpc.planners import make_planner

    torch.set_num_threads(1)
    checkpoint, num_objects = setting_model(task["setting"])
    name, options = planner_options(task["planner"])
    problem = problem_from_json(task["problem"], task["time_limit"])
    began = time.perf_counter()
    try:  # +ranges on a model without recorded ranges: an error of the task
        planner = make_planner("milp-exact", checkpoint.model, num_objects=num_objects, **options)
        horizon_program = planner.build(problem)
    except MPCError as error:
        return {"task": {**task, "problem": None}, "error": f"{error.__class__.__name__}: {error}"}
    build_time = time.perf_counter() - began
    _, cuts = tighten_with_cuts(horizon_program.program, horizon_program.dynamics, planner.cut_rounds)
    return {
        "task": {**task, "problem": None},
        "binaries": horizon_program.program.num_binaries,
        "build_time": build_time,
        **cuts.record(),
    }


def relaxation_report(records: list[dict], best: dict[int, float], out: Path) -> str:
    """Mean LP relaxation bound / best known value per setting and variant (1: the relaxation is exact)."""
    groups: dict[tuple, list[dict]] = {}
    for record in records:
        if record.get("relaxation_after") is not None and record["task"]["index"] in best:
            groups.setdefault((record["task"]["setting"], record["task"]["planner"]), []).append(record)
    lines = [
        "| setting | variant | problems | mean bound / best known | mean binaries | cuts | mean build (s) "
        "| mean cuts (s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    summary = []
    for (setting, variant), group in sorted(groups.items()):
        row = {
            "setting": setting,
            "variant": variant,
            "problems": len(group),
            "bound_ratio": float(np.mean([r["relaxation_after"] / best[r["task"]["index"]] for r in group])),
            "binaries": float(np.mean([r["binaries"] for r in group])),
            "cuts": float(np.mean([r["cuts"] for r in group])),
            "build_time": float(np.mean([r["build_time"] for r in group])),
            "cut_time": float(np.mean([r["cut_time"] for r in group])),
        }
        summary.append(row)
        lines.append(
            f"| {setting} | {variant} | {row['problems']} | {row['bound_ratio']:.3f} | {row['binaries']:.0f} "
            f"| {row['cuts']:.0f} | {row['build_time']:.2f} | {row['cut_time']:.2f} |"
        )
    table = "\n".join(lines) + "\n"
    (out / "relaxation.md").write_text(table)
    (out / "relaxation.json").write_text(json.dumps(summary, indent=1))
    return table


def planning_tasks(suite: dict, planners, budgets, kind: str, repeats: int = 1) -> list[dict]:
    """Every problem x planner x budget, `repeats` times (the first repeat's tasks carry no "repeat": the records
    of runs made before repeats existed match them)."""
    return [
        {
            "kind": kind,
            "index": index,
            "setting": entry["setting"],
            "planner": planner,
            "time_limit": budget,
            "problem": entry["problem"],
            **({"repeat": repeat} if repeat else {}),
        }
        for repeat in range(repeats)
        for index, entry in enumerate(suite["problems"])
        for planner in planners
        for budget in budgets
    ]


def run_planning(
    suite_path: Path, results: Path, planners, budgets, kind: str, num_cpus, function=plan_task, repeats: int = 1
) -> list[dict]:
    """`function` (plan_task, relaxation_task) on every problem, planner, budget and repeat not yet in `results`."""
    from mpc.control.sweep import run_tasks

    suite = json.loads(suite_path.read_text())
    tasks = planning_tasks(suite, planners, budgets, kind, repeats)
    # The records keep the task without its problem (the suite has it): match on that.
    done = {json.dumps(record["task"], sort_keys=True) for record in _records(results)}
    pending = [task for task in tasks if json.dumps({**task, "problem": None}, sort_keys=True) not in done]
    run_tasks(function, pending, results, num_cpus=num_cpus)
    return _records(results)


def _records(path: Path) -> list[dict]:
    from mpc.control.sweep import finished_records

    return finished_records(path)


# --- report ---------------------------------------------------------------------------------------------


def best_known(records: list[dict]) -> dict[int, float]:
    """Problem index -> the lowest objective any record reached on it."""
    best: dict[int, float] = {}
    for record in records:
        if "objective" in record:
            index = record["task"]["index"]
            best[index] = min(best.get(index, np.inf), record["objective"])
    return best


def report(records: list[dict], out: Path) -> str:
    """Ratio tables (per setting, planner, budget) and the plot, from reference and run records."""
    best = best_known(records)
    rows: dict[tuple, list[dict]] = {}
    false_bounds = 0
    for record in records:
        task = record["task"]
        if "objective" in record and record.get("best_bound") is not None:
            false_bounds += record["best_bound"] > best[task["index"]] + 1e-6 * (1 + abs(best[task["index"]]))
        if task["kind"] == "run":
            rows.setdefault((task["setting"], task["planner"], task["time_limit"]), []).append(record)
    lines = [
        "| setting | planner | budget (s) | runs | mean ratio | median ratio | best | failed | median gap | "
        "median wall / budget | overruns |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    summary = []
    for (setting, planner, budget), group in sorted(
        rows.items(), key=lambda item: (item[0][0], item[0][2], item[0][1])
    ):
        solved = [record for record in group if "objective" in record]
        ratios = [
            record["objective"] / best[record["task"]["index"]] if best[record["task"]["index"]] > 0 else 1.0
            for record in solved
        ]
        walls = [record["wall_time"] / budget for record in solved]
        gaps = [record["gap"] for record in solved if record.get("gap") is not None]
        row = {
            "setting": setting,
            "planner": planner,
            "budget": budget,
            "runs": len(group),
            "mean_ratio": float(np.mean(ratios)) if ratios else None,
            "median_ratio": float(np.median(ratios)) if ratios else None,
            "failed": len(group) - len(solved),
            "median_gap": statistics.median(gaps) if gaps else None,
            "median_wall_over_budget": statistics.median(walls) if walls else None,
            "overruns": sum(wall > OVERRUN for wall in walls),
        }
        summary.append(row)
    # "best": how often the planner had the lowest objective of all planners at that budget
    for row in summary:
        wins = 0
        group = [r for r in rows[(row["setting"], row["planner"], row["budget"])] if "objective" in r]
        for record in group:
            trial = (record["task"]["index"], record["task"].get("repeat", 0))
            rivals = [
                r["objective"]
                for (s, p, b), g in rows.items()
                if s == row["setting"] and b == row["budget"]
                for r in g
                if "objective" in r and (r["task"]["index"], r["task"].get("repeat", 0)) == trial
            ]
            wins += record["objective"] <= min(rivals) + 1e-9
        row["best"] = wins

        def shown(value, spec: str) -> str:  # "-" where every problem failed
            return "-" if value is None else format(value, spec)

        lines.append(
            f"| {row['setting']} | {row['planner']} | {row['budget']:g} | {row['runs']} "
            f"| {shown(row['mean_ratio'], '.4f')} | {shown(row['median_ratio'], '.4f')} | {wins} | {row['failed']} "
            f"| {shown(row['median_gap'], '.3f')} | {shown(row['median_wall_over_budget'], '.2f')} "
            f"| {row['overruns']} |"
        )
    table = "\n".join(lines) + f"\n\nbounds above the best known value: {false_bounds}\n"
    (out / "summary.md").write_text(table)
    (out / "summary.json").write_text(json.dumps({"rows": summary, "false_bounds": int(false_bounds)}, indent=1))
    if summary:  # a reference run alone has no budget rows to plot
        plot(summary, out / "ratio_vs_budget.png")
    return table


def plot(summary: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    settings = sorted({row["setting"] for row in summary})
    if not settings:  # reference runs only: no budget rows to plot
        return
    columns = min(len(settings), 4)
    figure, axes = plt.subplots(
        (len(settings) + columns - 1) // columns,
        columns,
        figsize=(4 * columns, 3.3 * ((len(settings) + columns - 1) // columns)),
        squeeze=False,
    )
    for axis, setting in zip(axes.flat, settings):
        for planner in sorted({row["planner"] for row in summary}):
            points = sorted(
                (row["budget"], row["mean_ratio"])
                for row in summary
                if row["setting"] == setting and row["planner"] == planner and row["mean_ratio"] is not None
            )
            if points:
                axis.plot(*zip(*points), marker="o", label=planner)
        axis.set_xscale("log")
        axis.set_title(setting, fontsize=9)
        axis.set_xlabel("budget (s)")
        axis.set_ylabel("mean objective / best known")
    for axis in axes.flat[len(settings) :]:
        axis.axis("off")
    axes.flat[0].legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    rec = commands.add_parser("record", help="record planning problems from closed-loop MPPI runs")
    rec.add_argument("--out", type=Path, required=True, help="suite file (JSON)")
    rec.add_argument("--settings", nargs="+", default=SUITE_SETTINGS, choices=list(SETTINGS))
    rec.add_argument("--episodes", type=int, default=2, help="held-out episodes per setting")
    rec.add_argument("--steps", type=int, default=24, help="control steps per episode")
    rec.add_argument("--every", type=int, default=6, help="keep every EVERY-th step's problem")
    rec.add_argument(
        "--first",
        action="store_true",
        help="also keep each episode's first problem (warm-started by the controller's random-shooting fallback, "
        "not by a previous plan; the pusher mostly far from the object)",
    )
    rec.add_argument("--seed", type=int, default=5000)
    ref = commands.add_parser("reference", help="every planner on every problem with a long budget")
    ref.add_argument("suite", type=Path)
    ref.add_argument("--time-limit", type=float, default=20.0)
    ref.add_argument("--planners", nargs="+", default=list(PLANNERS), type=planner_spec)
    ref.add_argument("--out", type=Path, default=None, help="results folder (default: next to the suite)")
    run = commands.add_parser("run", help="every planner at every budget, ratios to the best known values")
    run.add_argument("suite", type=Path, help="suite file (JSON) written by `record`")
    run.add_argument(
        "--budgets", type=float, nargs="+", default=[0.1, 0.5, 2.0, 5.0], help="seconds per plan (default: %(default)s)"
    )
    run.add_argument(
        "--planners",
        nargs="+",
        default=list(PLANNERS),
        type=planner_spec,
        help=f"NAME[@BOUNDS][+FEATURE...] with NAME one of {', '.join(PLANNERS)} and FEATURE one of "
        f"{', '.join(FEATURES)} (default: every NAME)",
    )
    run.add_argument("--out", type=Path, default=None, help="results folder (default: next to the suite)")
    run.add_argument(
        "--repeats",
        type=int,
        default=1,
        help="runs of every planner on every problem, each with its own seed (problem index + "
        f"{REPEAT_SEED_STRIDE} x repeat): a "
        "planner's result on one problem moves with its seed and the machine's timing, so a one-seed run's "
        "means move by 0.01-0.04 (default: 1)",
    )
    run.add_argument(
        "--reference",
        type=Path,
        default=None,
        help="another results.jsonl whose objectives count for the best known values too (e.g. the "
        "main run's, for a study of planner variants in a folder of its own)",
    )
    rel = commands.add_parser(
        "relaxation", help="the LP relaxation's bound of every problem's program per variant, against the best known"
    )
    rel.add_argument("suite", type=Path)
    rel.add_argument(
        "--planners",
        nargs="+",
        default=["milp-exact@interval", "milp-exact@linear", "milp-exact@lp", "milp-exact@lp+cuts"],
        type=planner_spec,
        help="variants (only the MILP options count: bounds, +cuts, ...)",
    )
    rel.add_argument("--time-limit", type=float, default=2.0, help="the budget the bounds' LP deadline is a share of")
    rel.add_argument("--out", type=Path, default=None, help="results folder (default: next to the suite)")
    for command in (rec, ref, run, rel):
        command.add_argument("--num-cpus", type=int, default=None, help="Ray CPUs (default: all cores)")
    args = parser.parse_args()

    if args.command == "record":
        record(args)
        return
    if not args.suite.is_file():
        parser.error(f"no suite file {args.suite}: record one first (`record --out {args.suite}`)")
    out = args.out or args.suite.with_suffix("")
    out.mkdir(parents=True, exist_ok=True)
    results = out / "results.jsonl"
    if args.command == "relaxation":
        relaxation = run_planning(
            args.suite, out / "relaxation.jsonl", args.planners, [args.time_limit], "relaxation", args.num_cpus,
            relaxation_task,
        )  # fmt: skip
        print(relaxation_report(relaxation, best_known(_records(results)), out))
        return
    if args.command == "reference":
        records = run_planning(args.suite, results, args.planners, [args.time_limit], "reference", args.num_cpus)
    else:
        records = run_planning(
            args.suite, results, args.planners, args.budgets, "run", args.num_cpus, repeats=args.repeats
        )
        if args.reference is not None:
            records += [
                {**record, "task": {**record["task"], "kind": "reference"}} for record in _records(args.reference)
            ]
    print(report(records, out))


if __name__ == "__main__":
    from mpc.errors import MPCError

    try:
        sys.exit(main())
    except MPCError as error:  # e.g. Ray not installed: one line, not a traceback
        sys.exit(f"bench_planners.py: error: {error}")
