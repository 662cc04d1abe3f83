"""The `sparsedyn` command: the root parser. Each package owns the subcommands of its own work.

A user error (bad file, wrong dimensions, infeasible constraint, ...) raises a typed exception;
here it becomes one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import sys

import dynamics.cli
import envs.cli
import mpc.commands
from dynamics.errors import DynamicsError
from envs.errors import EnvsError
from mpc.errors import MPCError

USER_ERRORS = (EnvsError, DynamicsError, MPCError)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sparsedyn",
        description="Model-based control with sparse neural dynamics.",
    )
    subcommands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    envs.cli.add_commands(subcommands)
    dynamics.cli.add_commands(subcommands)
    mpc.commands.add_commands(subcommands)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except USER_ERRORS as exc:
        print(f"sparsedyn {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"sparsedyn {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
