"""`sparsedyn collect`: roll out an environment's exploration policy and save the transitions."""

from __future__ import annotations

import argparse
import json
import os

from envs.arguments import count, non_negative_int
from envs.errors import CollectionError
from envs.files import check_writable

DEFAULT_WORKERS = min(os.cpu_count() or 1, 4)


def add_commands(subparsers) -> None:
    parser = subparsers.add_parser(
        "collect",
        help="collect transitions from an environment into a .npz data file",
        description="Roll out the environment's exploration policy and save observations, actions, next "
        "observations and episode ids with metadata (env id, state layout, units, action and workspace boxes, seed).",
    )
    parser.add_argument("env", help="environment id, e.g. ObjectPushing-v0 (short for sparsedyn/ObjectPushing-v0)")
    parser.add_argument("--episodes", type=count, default=200, help="number of episodes (default: 200)")
    parser.add_argument("--steps", type=count, default=50, help="steps per episode (default: 50)")
    parser.add_argument(
        "--seed", type=non_negative_int, default=0, help="base seed; per-episode seeds derive from it (default: 0)"
    )
    parser.add_argument("--out", required=True, help="output .npz file")
    parser.add_argument(
        "--workers",
        type=count,
        default=DEFAULT_WORKERS,
        help=f"worker processes; the data does not depend on it (default: {DEFAULT_WORKERS})",
    )
    parser.add_argument(
        "--env-kwargs",
        default="{}",
        metavar="JSON",
        help='keyword arguments for the environment as JSON, e.g. \'{"shape": "t"}\'',
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(run=run_collect)


def run_collect(args: argparse.Namespace) -> int:
    from envs.collect import collect_transitions, resolve_env_id  # the simulator loads here, not for --help

    env_id = resolve_env_id(args.env)
    env_kwargs = parse_env_kwargs(args.env_kwargs)
    out = check_writable(args.out, CollectionError)  # before collecting, not after (no input to replace)
    transitions = collect_transitions(
        env_id,
        args.episodes,
        args.steps,
        seed=args.seed,
        workers=args.workers,
        env_kwargs=env_kwargs,
        progress=not args.no_progress,
    )
    transitions.save(out)
    meta = transitions.metadata
    print(
        f"collected {len(transitions)} transitions from {meta['episodes']} episodes of {env_id} "
        f"({meta['episodes_dropped']} dropped as diverged); object moved in {meta['moved_fraction']:.1%} "
        f"of transitions; wrote {out}"
    )
    return 0


def parse_env_kwargs(text: str) -> dict:
    """The `--env-kwargs` JSON object as a dict.

    Raises:
        CollectionError: the text is not JSON, or not a JSON object.
    """
    try:
        kwargs = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CollectionError(f"--env-kwargs is not valid JSON: {exc.msg}") from exc
    if not isinstance(kwargs, dict):
        raise CollectionError('--env-kwargs must be a JSON object, e.g. \'{"shape": "t"}\'')
    return kwargs
