"""`sparsedyn train` and `sparsedyn inspect`: train a (sparse) dynamics model, show a checkpoint.

torch and the training code load inside the commands' functions, so that `--help` answers at once.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from dynamics.config import MODELS, TrainConfig
from dynamics.device import DEVICE_CHOICES
from dynamics.errors import CheckpointError, DataError, ModelConfigError
from dynamics.frozen import EDGE_SETS
from envs.arguments import count, non_negative_int, non_negative_number, positive_number
from envs.errors import DatasetError
from envs.files import check_outputs

if TYPE_CHECKING:
    from dynamics.checkpoint import Checkpoint
    from envs.dataset import Transitions


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    defaults = TrainConfig()
    parser = subparsers.add_parser(
        "train",
        help="train a dynamics model on a transition file and sparsify it to a ReLU target",
        description="Train a dense ReLU dynamics model, then sparsify it in phases until at most "
        "--relu-target ReLU neurons remain (the rest become identity or are removed).",
    )
    widths = {name: ",".join(map(str, model["hidden"])) for name, model in MODELS.items()}
    parser.add_argument(
        "data",
        type=Path,
        nargs="+",
        metavar="DATA",
        help="transition files (.npz) from `sparsedyn collect` or `collect-onpolicy`, of one env; "
        "several are trained on together",
    )
    parser.add_argument(
        "--out",
        type=Path,
        required=True,
        metavar="MODEL.pt",
        help="checkpoint to write (atomically, after every epoch)",
    )
    parser.add_argument(
        "--model",
        choices=list(MODELS),
        default=defaults.model,
        help="mlp: one MLP on the whole state; graph: edge and node networks over the pusher and N objects "
        "(data of pusher + object positions, e.g. ObjectSorting-v0, RopeShaping-v0), runs on any N "
        "(default %(default)s)",
    )
    parser.add_argument(
        "--hidden",
        metavar="W1,W2,...",
        help=f"hidden widths of the MLP, or of each of the graph's edge and node networks "
        f"(default {widths['mlp']} for mlp, {widths['graph']} for graph)",
    )
    graph = MODELS["graph"]
    parser.add_argument(
        "--message-dim",
        type=count,
        metavar="D",
        help=f"graph only: message width, the edge network's output (default {graph['message_dim']})",
    )
    parser.add_argument(
        "--message-penalty",
        type=non_negative_number,
        metavar="W",
        help="graph only: loss per unit of mean absolute message, so that pairs which do not interact send "
        f"nothing and the model carries over to other numbers of objects (default {graph['message_penalty']})",
    )
    parser.add_argument(
        "--edge-set",
        choices=list(EDGE_SETS),
        help="graph only: which nodes interact; all_pairs: every object with the pusher and every "
        "other object, chain: every object with the pusher and its neighbours in state order (a "
        "rope) (default: the one the data's env names, e.g. chain for RopeShaping-v0, else all_pairs)",
    )
    parser.add_argument(
        "--relu-target",
        type=non_negative_int,
        metavar="N",
        help="ReLU neurons to keep at most, over all networks (default: dense model)",
    )
    parser.add_argument(
        "--rollout-steps",
        type=count,
        default=defaults.rollout_steps,
        metavar="K",
        help="open-loop steps in the training loss (default %(default)s)",
    )
    parser.add_argument(
        "--epochs", type=count, default=defaults.epochs, metavar="E", help="dense training epochs (default %(default)s)"
    )
    parser.add_argument(
        "--phase-epochs",
        type=count,
        default=defaults.phase_epochs,
        metavar="P",
        help="per sparsification phase: gate-training epochs, then as many fine-tuning epochs (default %(default)s)",
    )
    parser.add_argument(
        "--batch-size",
        type=count,
        default=defaults.batch_size,
        metavar="B",
        help="rollout windows per batch (default %(default)s)",
    )
    parser.add_argument(
        "--lr",
        type=positive_number,
        default=defaults.learning_rate,
        metavar="RATE",
        help="weight learning rate (default %(default)s)",
    )
    parser.add_argument(
        "--eval-steps",
        type=count,
        default=defaults.eval_steps,
        metavar="H",
        help="open-loop steps of the validation rollout error (default %(default)s)",
    )
    parser.add_argument(
        "--seed",
        type=non_negative_int,
        default=defaults.seed,
        metavar="S",
        help="seeds the episode split, initialisation and sampling (default %(default)s)",
    )
    parser.add_argument("--env", metavar="ENV_ID", help="require the data to come from this env id")
    parser.add_argument(
        "--threads",
        type=count,
        default=1,
        metavar="N",
        help="torch CPU threads; the small matrices gain nothing from more, and spin-waiting "
        "threads slow down badly on a busy machine (default %(default)s)",
    )
    add_device_argument(parser, "where the model trains")
    parser.add_argument("--resume", action="store_true", help="continue the unfinished run saved at --out")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(run=run_train)

    parser = subparsers.add_parser(
        "inspect",
        help="show what a model checkpoint holds",
        description="Print a checkpoint's env, neuron counts, validation errors and training options.",
    )
    parser.add_argument("model", type=Path, help="checkpoint written by `sparsedyn train`")
    parser.add_argument(
        "--data",
        type=Path,
        action="append",
        default=[],
        metavar="DATA.npz",
        help="also report the one-step and H-step RMSE on this transition file of the model's env "
        "(a graph model: any number of objects); repeatable",
    )
    parser.set_defaults(run=run_inspect)

    parser = subparsers.add_parser(
        "record-ranges",
        help="record a model's pre-activation ranges on transition files into its checkpoint",
        description="Record the smallest and largest pre-activation of every hidden neuron of the model's "
        "frozen export on the transitions (as `sparsedyn train` does at its end), for the MILP planners' "
        "--data-ranges, and write the checkpoint again with them (the weights unchanged).",
    )
    parser.add_argument("model", type=Path, help="checkpoint written by `sparsedyn train`")
    parser.add_argument(
        "data",
        type=Path,
        nargs="+",
        metavar="DATA",
        help="transition files (.npz) of the model's env, e.g. the ones it was trained on",
    )
    parser.add_argument(
        "--out", type=Path, metavar="MODEL.pt", help="write the checkpoint here instead of over MODEL (atomically)"
    )
    parser.set_defaults(run=run_record_ranges)


def add_device_argument(parser: argparse.ArgumentParser, what: str) -> None:
    """--device auto|cpu|cuda (`dynamics.device.resolve_device`), shared by `train` and the control commands."""
    parser.add_argument(
        "--device",
        choices=DEVICE_CHOICES,
        default="auto",
        help=f"{what}: auto (a CUDA GPU if torch sees one, else the CPU), cpu or cuda "
        "(default %(default)s); the same seed gives the same results on the same device only",
    )


def parse_hidden(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(width) for width in text.split(","))
    except ValueError:
        raise ModelConfigError(f"--hidden {text!r} is not a comma-separated list of widths such as 128,128") from None


def run_train(args: argparse.Namespace) -> int:
    import torch

    from dynamics.device import resolve_device
    from dynamics.train import train
    from envs.dataset import concatenate_transitions

    config = TrainConfig(
        model=args.model,
        hidden=None if args.hidden is None else parse_hidden(args.hidden),
        message_dim=args.message_dim,
        message_penalty=args.message_penalty,
        edge_set=args.edge_set,
        relu_target=args.relu_target,
        rollout_steps=args.rollout_steps,
        epochs=args.epochs,
        phase_epochs=args.phase_epochs,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        eval_steps=args.eval_steps,
        seed=args.seed,
    )
    config.validate()
    device = resolve_device(args.device)  # DeviceError before any file is read
    check_outputs({"--out": args.out}, {f"DATA {path}": path for path in args.data}, CheckpointError)
    try:
        transitions = concatenate_transitions([load_data(path, args.env) for path in args.data])
    except DatasetError as exc:
        raise DataError(str(exc)) from exc
    torch.set_num_threads(max(1, args.threads))
    checkpoint = train(transitions, config, args.out, resume=args.resume, show_progress=not args.quiet, device=device)
    print(describe(checkpoint, args.out))
    return 0


def run_inspect(args: argparse.Namespace) -> int:
    from dynamics.checkpoint import check_usable, load_checkpoint

    checkpoint = load_checkpoint(args.model)
    check_usable(checkpoint, args.model, checkpoint.info.get("config", {}).get("eval_steps", TrainConfig().eval_steps))
    try:
        print(describe(checkpoint, args.model))
    except KeyError as exc:
        raise CheckpointError(
            f"{args.model} holds a model but not the facts `sparsedyn train` records ({exc} missing)"
        ) from None
    for path in args.data:
        print(data_errors(checkpoint, path))
    return 0


def run_record_ranges(args: argparse.Namespace) -> int:
    from dynamics.checkpoint import load_checkpoint, save_checkpoint
    from dynamics.ranges import record_ranges
    from envs.dataset import concatenate_transitions

    out = args.model if args.out is None else args.out
    check_outputs({"--out": out}, {f"DATA {path}": path for path in args.data}, CheckpointError)
    checkpoint = load_checkpoint(args.model)
    env_id = checkpoint.metadata.get("env_id")
    try:
        transitions = concatenate_transitions([load_data(path, env_id) for path in args.data])
    except DatasetError as exc:
        raise DataError(str(exc)) from exc
    checkpoint.model.check_metadata(transitions.metadata)
    ranges = record_ranges(checkpoint.model, transitions.observations, transitions.actions)
    checkpoint.model.data_ranges = ranges
    save_checkpoint(out, checkpoint.model, checkpoint.metadata, checkpoint.info, checkpoint.training)
    print(f"{out}: pre-activation ranges of {ranges.neurons} hidden neurons on {ranges.transitions} transitions")
    return 0


def load_data(path: Path, env: str | None) -> Transitions:
    """The transition file at `path`; DataError if it is unusable or (given `env`) from another env."""
    from envs.dataset import load_transitions

    try:
        transitions = load_transitions(path)
    except DatasetError as exc:
        raise DataError(str(exc)) from exc
    env_id = transitions.metadata["env_id"]
    if env is not None and env not in (env_id, env_id.split("/")[-1]):
        raise DataError(f"{path} holds data from {env_id}, not from {env}")
    return transitions


def data_errors(checkpoint: Checkpoint, path: Path) -> str:
    """One line: the model's one-step and H-step RMSE (H = the training's eval steps) on the transitions in `path`."""
    from dynamics.data import TransitionTensors
    from dynamics.evaluate import prediction_errors

    transitions = load_data(path, checkpoint.metadata["env_id"])
    checkpoint.model.check_metadata(transitions.metadata)
    steps = checkpoint.info["config"]["eval_steps"]
    metrics = prediction_errors(checkpoint.model, TransitionTensors.from_transitions(transitions), steps)
    return (
        f"data        {path}: {metrics['transitions']} transitions, state {transitions.state_dim}; one-step RMSE "
        f"{format_number(metrics['one_step_rmse'])}, {steps}-step RMSE {format_number(metrics['rollout_rmse'])}"
    )


def describe(checkpoint: Checkpoint, path: Path) -> str:
    """The facts a checkpoint holds, as aligned text."""
    from dynamics.gates import count_kinds

    info, metadata, model = checkpoint.info, checkpoint.metadata, checkpoint.model
    config, counts, progress = info["config"], info["kind_counts"], info["progress"]
    networks = {name: network.export() for name, network in model.networks().items()}
    export = ", ".join(
        f"{name} {' -> '.join(map(str, [frozen.input_dim] + [layer.out_dim for layer in frozen.layers]))}"
        for name, frozen in networks.items()
    )
    architecture = model.architecture()
    epochs_done = (
        "complete"
        if progress["complete"]
        else (
            f"unfinished: stopped in stage {progress['stage'] + 1} of {len(progress['stages'])} "
            f"({progress['stages'][progress['stage']]}), resume with --resume"
        )
    )
    lines = [
        f"model       {path}",
        f"env         {metadata['env_id']}  state {len(metadata['state_layout'])} "
        f"({', '.join(metadata['state_layout'])}), "
        f"action {len(metadata['action_low'])}",
        f"network     {architecture[0]}",
        *(f"            {line}" for line in architecture[1:]),
        f"neurons     {format_counts(counts)}",
        *(
            f"            {name}: {format_counts(count_kinds(network))}"
            for name, network in model.networks().items()
            if len(networks) > 1
        ),
        f"export      {export} after folding, {sum(frozen.relu_count for frozen in networks.values())} ReLU",
        f"training    {epochs_done}; {info['train_seconds']:.0f} s on {info.get('device', 'cpu')}, last epoch loss "
        f"{format_number(info['last_epoch_loss'])}",
        "options     " + " ".join(f"{key}={format_option(value)}" for key, value in config.items()),
        f"validation  {info['data']['validation_episodes']} held-out episodes, "
        f"{info['data']['validation_transitions']} transitions",
        f"            {'':8}{'one-step RMSE':>15}{str(config['eval_steps']) + '-step RMSE':>15}",
    ]
    for name in ("dense", "sparse"):
        metrics = info["metrics"][name]
        if metrics is not None:
            lines.append(
                f"            {name:8}{format_number(metrics['one_step_rmse']):>15}"
                f"{format_number(metrics['rollout_rmse']):>15}"
            )
    ranges = getattr(model, "data_ranges", None)
    if ranges is None:
        lines.append("data ranges none (record them with `sparsedyn record-ranges`)")
    elif all(frozen.data_ranges is not None for frozen in frozen_parts(model)):
        lines.append(f"data ranges {ranges.neurons} hidden neurons on {ranges.transitions} transitions")
    else:
        lines.append("data ranges recorded for other weights: ignored (record them again)")
    return "\n".join(lines)


def frozen_parts(model) -> list:
    """The frozen networks of the model's export (the MLP's, or the graph's edge and node networks)."""
    from dynamics.ranges import frozen_networks

    return list(frozen_networks(model.export()).values())


def format_counts(counts: dict[str, int]) -> str:
    return f"relu {counts['relu']}, identity {counts['identity']}, zero {counts['zero']}"


def format_number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def format_option(value: object) -> str:
    if isinstance(value, list):
        return ",".join(map(str, value))
    return "none" if value is None else str(value)
