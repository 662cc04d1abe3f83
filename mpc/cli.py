"""The `control` and `demo` subcommands: closed-loop runs from the command line.

torch, the planners and the simulator load inside the commands' functions, so that `--help` answers at once.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dynamics.cli import add_device_argument
from envs.arguments import (
    count,
    discount_factor,
    non_negative_int,
    non_negative_number,
    positive_number,
    probability,
)
from envs.cli import parse_env_kwargs
from envs.files import check_directory, check_outputs
from mpc.control.aggregation import COLLECTION_PLANNERS, ControllerPolicy
from mpc.control.task import DISAGREEMENT_WEIGHT, ControlSettings
from mpc.errors import MPCError
from mpc.milp.bounds.modes import BOUND_MODES, DEFAULT_BOUNDS
from mpc.planners import (
    PLANNER_NAMES,
    frozen_dynamics,
    graph_objects,
    make_fallback_planner,
    make_planner,
    planner_device,
)
from mpc.sampling.defaults import describe_defaults

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
# The closed-loop benchmark's models (docs/benchmarks.md): 60 ReLUs and the dense twin, both trained on
# exploration plus on-policy data (examples/checkpoints/make_onpolicy_checkpoints.sh).
DEMO_MODELS = {
    "dense": EXAMPLES / "checkpoints" / "pushing_onpolicy_dense.pt",
    "sparse": EXAMPLES / "checkpoints" / "pushing_onpolicy_relu64.pt",
}
DEMO_RUNS = (("milp", "sparse"), ("mppi", "sparse"), ("cem", "sparse"), ("mppi", "dense"), ("cem", "dense"))
DEMO_FILES = {
    "table": "demo_table.md",
    "results": "demo_results.json",
    "video": "milp_episode.gif",
    "plot": "cost_over_time.png",
}


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    control = subparsers.add_parser("control", help="run closed-loop episodes with a planner on a trained model")
    control.add_argument("model", type=Path, help="checkpoint written by `sparsedyn train`")
    control.add_argument("--planner", choices=PLANNER_NAMES, default="milp", help="(default: %(default)s)")
    add_settings_arguments(control, ControlSettings())
    control.add_argument("--episodes", type=count, default=5, help="closed-loop episodes (default: %(default)s)")
    control.add_argument(
        "--seed", type=non_negative_int, default=1000, help="episode i uses env seed SEED + i (default: %(default)s)"
    )
    control.add_argument(
        "--solver",
        choices=("highs", "scip"),
        default="highs",
        help='branch-and-bound of milp-exact and milp-cem (scip: pip install -e ".[scip]" in the checkout; '
        "default: %(default)s)",
    )
    control.add_argument(
        "--bounds",
        choices=BOUND_MODES,
        help=f"MILP neuron bounds (default: linear for milp, {DEFAULT_BOUNDS} for milp-exact and milp-cem)",
    )
    control.add_argument(
        "--data-ranges",
        action="store_true",
        help="MILP planners: also cut the neuron bounds to the model's pre-activation ranges on its data "
        "(recorded by `sparsedyn train` or `sparsedyn record-ranges`), widened by 10%% of their width each side; "
        "fewer binaries, but not sound: plans whose neurons leave them are out of the program's reach, and each "
        "plan's extras count its neurons outside them",
    )
    control.add_argument(
        "--cut-rounds",
        type=non_negative_int,
        default=0,
        help="MILP planners: rounds of ideal single-neuron cuts (Anderson et al., 2020) added before "
        "branch-and-bound, each an LP relaxation solve (default 0: none)",
    )
    control.add_argument(
        "--highs-option",
        type=highs_option,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="MILP planners: a HiGHS option for branch-and-bound, e.g. mip_heuristic_effort=0.3 (repeatable)",
    )
    add_sampling_arguments(control)
    control.add_argument(
        "--env-kwargs",
        metavar="JSON",
        help="env options replacing those the model was trained with, e.g. "
        "'{\"num_objects\": 6}' to run a graph model on another number of objects",
    )
    control.add_argument(
        "--out", type=Path, default=Path("control_results.json"), help="results JSON (default: %(default)s)"
    )
    control.add_argument(
        "--video",
        type=Path,
        help="write a GIF of the first episode (.gif, or another animated image format such as .png or .webp)",
    )
    add_cost_arguments(control)
    control.add_argument(
        "--obstacle-margin",
        type=non_negative_number,
        default=ControlSettings().obstacle_margin,
        metavar="CM",
        help="with obstacles (--env-kwargs '{\"obstacles\": 2}'): the band beyond contact where a point pays "
        "--obstacle-weight per cm of depth, room for the model's error (default: %(default)s)",
    )
    control.add_argument(
        "--obstacle-weight",
        type=non_negative_number,
        default=ControlSettings().obstacle_weight,
        help="with obstacles: cost per cm of a point's depth, per point and step; all of the sampling planners' "
        "obstacle handling, the MILP's soft band (default: %(default)s)",
    )
    control.add_argument(
        "--disagreement",
        type=Path,
        metavar="MODEL2",
        help="plan on MODEL and a second MLP model of the same env together, paying --disagreement-weight per cm of "
        "their disagreement on the goal entries at every planned step: keeps plans where the models agree "
        "(dynamics.disagreement; every planner, the MILP exactly, with both models' ReLUs)",
    )
    control.add_argument(
        "--disagreement-weight",
        type=positive_number,
        help="with --disagreement: cost per cm of disagreement, per goal entry and step, positive "
        f"(default: {DISAGREEMENT_WEIGHT})",
    )
    control.add_argument("--no-progress", action="store_true", help="hide the progress bar (on stderr)")
    control.set_defaults(run=run_control)

    demo = subparsers.add_parser("demo", help="compare MILP, MPPI and CEM on the bundled pushing models")
    add_settings_arguments(demo, ControlSettings(horizon=8, time_limit=0.5, steps=25))
    demo.add_argument("--episodes", type=count, default=3)
    demo.add_argument("--seed", type=non_negative_int, default=2000)
    demo.add_argument(
        "--out-dir", type=Path, default=Path("demo_output"), help="where the table, JSON, GIF and plot go"
    )
    add_sampling_arguments(demo)
    demo.add_argument("--no-progress", action="store_true", help="hide the progress bars (on stderr)")
    demo.set_defaults(run=run_demo)

    onpolicy = subparsers.add_parser(
        "collect-onpolicy",
        help="collect transitions with a controller on a model in the loop (data aggregation)",
        description="Roll out the model's env with a receding-horizon controller on the model (mixed with the env's "
        "exploration policy) and save the transitions, to train on together with the exploration data "
        "(`sparsedyn train EXPLORATION.npz ONPOLICY.npz ...`). A sampling controller runs a fixed number of "
        "iterations per step, so a seeded collection is reproducible; the MILP controller (--planner milp) plans to "
        "--time-limit seconds per step, so its collection is not.",
    )
    onpolicy.add_argument("model", type=Path, help="checkpoint the controller plans on")
    onpolicy.add_argument("--episodes", type=count, default=100, help="number of episodes (default: 100)")
    onpolicy.add_argument("--steps", type=count, default=50, help="steps per episode (default: 50)")
    onpolicy.add_argument("--seed", type=non_negative_int, default=1, help="base seed (default: 1)")
    onpolicy.add_argument("--out", type=Path, required=True, help="output .npz file")
    onpolicy.add_argument(
        "--planner",
        choices=COLLECTION_PLANNERS,
        default="mppi",
        help="the controller: a sampling planner (runs --iterations per step) or milp (plans --time-limit seconds "
        "per step) (default: %(default)s)",
    )
    onpolicy.add_argument("--horizon", type=count, default=8, help="planning horizon in steps (default: 8)")
    onpolicy.add_argument(
        "--iterations",
        type=count,
        default=8,
        help="a sampling planner's iterations per step; milp ignores it (default: %(default)s)",
    )
    onpolicy.add_argument(
        "--time-limit",
        type=positive_number,
        default=ControllerPolicy.time_limit,
        help="the milp planner's seconds per step; the sampling planners ignore it (default: %(default)s)",
    )
    onpolicy.add_argument(
        "--explore",
        type=probability,
        default=0.3,
        help="probability that a step takes the exploration policy's action (default: 0.3)",
    )
    onpolicy.add_argument("--workers", type=count, default=1, help="worker processes (default: 1)")
    onpolicy.add_argument("--env-kwargs", metavar="JSON", help="env options replacing the model's")
    onpolicy.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    onpolicy.set_defaults(run=run_collect_onpolicy)

    sweep = subparsers.add_parser(
        "sweep",
        help="run a grid of closed-loop episodes (planner x model x budget x horizon x seed) on Ray",
        description="Run every episode of a sweep spec (JSON, see mpc.control.sweep) as a Ray task; results are "
        "appended to OUT/results.jsonl as they finish, so a rerun resumes an interrupted sweep. Writes "
        "OUT/summary.md, OUT/summary.json and OUT/cost_vs_budget.png.",
    )
    sweep.add_argument("spec", type=Path, help="sweep spec (JSON)")
    sweep.add_argument("--out", type=Path, required=True, metavar="DIR", help="results folder (created if missing)")
    sweep.add_argument("--address", help="an existing Ray cluster ('auto' or host:port); default: a local one")
    sweep.add_argument("--num-cpus", type=count, help="CPUs of the local Ray instance (default: all cores)")
    sweep.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    sweep.set_defaults(run=run_sweep)


def highs_option(text: str) -> tuple[str, bool | int | float | str]:
    """("mip_heuristic_effort", 0.3) from "mip_heuristic_effort=0.3": the value as a bool, int, float or string."""
    name, equals, value = text.partition("=")
    if not name or not equals or not value:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, e.g. mip_heuristic_effort=0.3; got {text!r}")
    if value.lower() in ("true", "false"):
        return name, value.lower() == "true"
    for kind in (int, float):
        try:
            return name, kind(value)
        except ValueError:
            pass
    return name, value


def add_settings_arguments(parser: argparse.ArgumentParser, defaults: ControlSettings) -> None:
    parser.add_argument(
        "--horizon", type=count, default=defaults.horizon, help="planning horizon in steps (default: %(default)s)"
    )
    parser.add_argument(
        "--time-limit",
        type=positive_number,
        default=defaults.time_limit,
        help="planning budget per step, s (default: %(default)s)",
    )
    parser.add_argument(
        "--steps", type=count, default=defaults.steps, help="control steps per episode (default: %(default)s)"
    )


def add_cost_arguments(parser: argparse.ArgumentParser) -> None:
    """The plans' cost options beside the goal distance: --terminal-weight, --action-weight, --discount
    (ControlSettings' terminal_weight, action_weight, discount; `settings_from` reads them)."""
    defaults = ControlSettings()
    parser.add_argument(
        "--terminal-weight",
        type=non_negative_number,
        default=defaults.terminal_weight,
        help="L1 weight of the goal distance at the horizon's last step, in every plan's cost (the steps before it: "
        f"{defaults.running_weight}) (default: %(default)s)",
    )
    parser.add_argument(
        "--action-weight",
        type=non_negative_number,
        default=defaults.action_weight,
        help="L1 cost per action unit (cm of pusher motion), per action entry and planned step, in every plan's "
        "cost; the env's task cost does not include it (default: %(default)s)",
    )
    parser.add_argument(
        "--discount",
        type=discount_factor,
        default=defaults.discount,
        help="factor in (0, 1] on the goal and action weights of each planned step after the first (step t's times "
        "DISCOUNT^(t-1)): prices the horizon's first steps above its last (default: %(default)s)",
    )


def add_sampling_arguments(parser: argparse.ArgumentParser) -> None:
    add_device_argument(
        parser, "where the sampling planners (mppi, cem, random, gd, milp-cem's CEM) run; the MILP runs on the CPU"
    )
    parser.add_argument(
        "--samples",
        type=count,
        metavar="K",
        help=f"sequences per iteration of the sampling planners, starts of gd (default by device: "
        f"{describe_defaults()})",
    )


def settings_from(args: argparse.Namespace) -> ControlSettings:
    """The ControlSettings of a command's arguments (the cost options of `add_cost_arguments`, the obstacle and
    disagreement options where the command has them)."""
    names = ("terminal_weight", "action_weight", "discount", "obstacle_margin", "obstacle_weight")
    options = {name: getattr(args, name) for name in names if hasattr(args, name)}
    if getattr(args, "disagreement", None) is not None:
        options["disagreement_weight"] = args.disagreement_weight or DISAGREEMENT_WEIGHT
    return ControlSettings(horizon=args.horizon, time_limit=args.time_limit, steps=args.steps, **options)


def load_model(path: Path, horizon: int):
    """The checkpoint at `path`, once it is known to hold an env's metadata and a model whose `horizon`-step
    predictions are finite (dynamics.checkpoint.check_usable); CheckpointError otherwise."""
    from dynamics.checkpoint import check_usable, load_checkpoint

    checkpoint = load_checkpoint(path)
    check_usable(checkpoint, path, horizon)
    return checkpoint


def run_control(args: argparse.Namespace) -> int:
    import torch

    from mpc.control.results import save_gif, save_json, summary_table, video_format
    from mpc.control.runner import env_metadata, run_closed_loop

    check_outputs(
        {"--out": args.out, "--video": args.video}, {"MODEL": args.model, "--disagreement": args.disagreement}, MPCError
    )
    if args.video is not None:
        video_format(args.video)
    if args.disagreement is None and args.disagreement_weight is not None:
        raise MPCError(
            "--disagreement-weight prices the disagreement of two models: give the second with --disagreement"
        )
    if args.disagreement is not None and args.data_ranges:
        raise MPCError("--data-ranges: a pair of models (--disagreement) has no recorded data ranges of its own")
    device = planner_device(args.planner, args.device)  # DeviceError before any work
    torch.set_num_threads(1)
    checkpoint = load_model(args.model, args.horizon)
    metadata = checkpoint.metadata
    if args.env_kwargs is not None:
        metadata = env_metadata(metadata, parse_env_kwargs(args.env_kwargs))
    check_model_fits(checkpoint.model, metadata)
    model = checkpoint.model
    if args.disagreement is not None:
        from dynamics.disagreement import DisagreementDynamics
        from dynamics.errors import CheckpointError, DataError

        try:
            other = load_model(args.disagreement, args.horizon)
            model = DisagreementDynamics.of_checkpoints(checkpoint, other)
        except (CheckpointError, DataError) as error:
            raise MPCError(f"--disagreement: {error}") from error
        check_model_fits(other.model, metadata)
    planner = make_planner(
        args.planner,
        model,
        seed=args.seed,
        bounds=args.bounds,
        solver=args.solver,
        num_objects=graph_objects(metadata),
        device=device,
        samples=args.samples,
        data_ranges=args.data_ranges,
        cut_rounds=args.cut_rounds,
        highs_options=dict(args.highs_option),
    )
    frames = [] if args.video else None
    settings = settings_from(args)
    results = run_closed_loop(
        planner,
        metadata,
        settings,
        args.episodes,
        args.seed,
        make_fallback_planner(model, args.seed, device),
        frames,
        show_progress=not args.no_progress,
    )
    results["config"] = {
        "model": str(args.model),
        "planner": args.planner,
        "bounds": args.bounds,
        "solver": args.solver,
        "data_ranges": args.data_ranges,
        "disagreement": None if args.disagreement is None else str(args.disagreement),
        "cut_rounds": args.cut_rounds,
        "highs_options": dict(args.highs_option),
        "env_kwargs": metadata["env_kwargs"],
        "seed": args.seed,
        "device": device.type,
        "samples": args.samples,
        **settings.__dict__,
    }
    save_json(results, args.out)
    if frames:
        save_gif(frames, args.video)
    pair = (
        ""
        if args.disagreement is None
        else f" + {args.disagreement.name} (disagreement {settings.disagreement_weight:g})"
    )
    print(summary_table({f"{args.planner} on {args.model.name}{pair}": results["summary"]}))
    print(f"results: {args.out}" + (f", video: {args.video}" if args.video else ""))
    if results["interrupted"]:
        print(f"interrupted: kept {len(results['episodes'])} finished episode(s)")
        return 130
    return 0


def check_model_fits(model, metadata: dict) -> None:
    """MPCError unless the model predicts the env's state (a graph model fits any number of objects)."""
    predicted = frozen_dynamics(model, graph_objects(metadata)).output_dim
    if predicted != len(metadata["state_layout"]):
        raise MPCError(
            f"the model predicts {predicted} state entries, {metadata['env_id']} with {metadata['env_kwargs']} has "
            f"{len(metadata['state_layout'])}; only a graph model runs on another number of objects"
        )


def run_demo(args: argparse.Namespace) -> int:
    import torch

    from envs.files import write_atomically
    from mpc.control.results import plot_costs, save_gif, save_json, summary_table
    from mpc.control.runner import run_closed_loop

    check_directory(args.out_dir, MPCError)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    outputs = {name: args.out_dir / file_name for name, file_name in DEMO_FILES.items()}
    check_outputs(outputs, error=MPCError)
    devices = {name: planner_device(name, args.device) for name, _ in DEMO_RUNS}  # DeviceError before any work
    torch.set_num_threads(1)
    models = {name: load_model(path, args.horizon) for name, path in DEMO_MODELS.items()}
    settings = settings_from(args)
    summaries, runs = {}, {}
    frames: list = []
    for planner_name, model_name in DEMO_RUNS:
        checkpoint = models[model_name]
        device = devices[planner_name]
        on_gpu = f", {device.type}" if device.type != "cpu" else ""
        label = f"{planner_name} / {model_name} ({checkpoint.info['kind_counts']['relu']} ReLU{on_gpu})"
        print(f"running {label}", file=sys.stderr)  # progress: stdout holds results only
        planner = make_planner(planner_name, checkpoint.model, seed=args.seed, device=device, samples=args.samples)
        video = frames if planner_name == "milp" else None
        results = run_closed_loop(
            planner,
            checkpoint.metadata,
            settings,
            args.episodes,
            args.seed,
            make_fallback_planner(checkpoint.model, args.seed, device),
            video,
            show_progress=not args.no_progress,
        )
        summaries[label], runs[label] = results["summary"], results
        if results["interrupted"]:
            break
    table = summary_table(summaries)
    save_json(
        {"config": {**settings.__dict__, "device": args.device, "samples": args.samples}, "runs": runs},
        outputs["results"],
    )
    write_atomically(outputs["table"], lambda file: file.write(table.encode() + b"\n"), MPCError)
    if frames:
        save_gif(frames, outputs["video"])
    plot_costs(runs, outputs["plot"])
    print(table)
    print(f"written to {args.out_dir}/: {', '.join(DEMO_FILES.values())}")
    return 0


def run_collect_onpolicy(args: argparse.Namespace) -> int:
    from envs.collect import collect_transitions

    check_outputs({"--out": args.out}, {"MODEL": args.model}, MPCError)
    checkpoint = load_model(args.model, args.horizon)
    metadata = checkpoint.metadata
    env_kwargs = {**metadata["env_kwargs"], **(parse_env_kwargs(args.env_kwargs) if args.env_kwargs else {})}
    policy = ControllerPolicy(
        str(args.model.resolve()), args.planner, args.horizon, args.iterations, args.explore, args.time_limit
    )
    transitions = collect_transitions(
        metadata["env_id"],
        args.episodes,
        args.steps,
        seed=args.seed,
        workers=args.workers,
        env_kwargs=env_kwargs,
        progress=not args.no_progress,
        policy=policy,
    )
    transitions.save(args.out)
    meta = transitions.metadata
    print(
        f"collected {len(transitions)} transitions from {meta['episodes']} episodes of {meta['env_id']} with "
        f"{policy.name} ({meta['episodes_dropped']} dropped as diverged); object moved in "
        f"{meta['moved_fraction']:.1%} of transitions; wrote {args.out}"
    )
    return 0


def run_sweep(args: argparse.Namespace) -> int:
    from mpc.control.sweep import SweepSpec, run_sweep, sweep_table

    check_directory(args.out, MPCError)
    spec = SweepSpec.load(args.spec)
    summaries = run_sweep(spec, args.out, args.address, args.num_cpus, not args.no_progress)
    print(sweep_table(summaries))
    print(f"written to {args.out}/: results.jsonl, summary.md, summary.json, cost_vs_budget.png")
    return 0
