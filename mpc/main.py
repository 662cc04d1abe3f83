"""The `sparsedyn` command: the root parser. Each package owns the subcommands of its own work.

A user error (bad file, wrong dimensions, infeasible constraint, ...) raises a typed exception;
here it becomes one line on stderr and a non-zero exit, never a traceback. A malformed command line
(an unknown option, a value envs.arguments refuses) is one line too, and exits with 2.
"""

from __future__ import annotations

import os

# Before numpy loads: the programs' matrices are small, and spinning BLAS threads on busy cores made
# one assembly step 100x slower (examples/bench_milp.py). Set the variable to override.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import sys  # noqa: E402

import dynamics.cli  # noqa: E402
import envs.cli  # noqa: E402
import mpc.cli  # noqa: E402
from dynamics.errors import DynamicsError  # noqa: E402
from envs.errors import EnvsError  # noqa: E402
from mpc.errors import MPCError  # noqa: E402

USER_ERRORS = (EnvsError, DynamicsError, MPCError)


class OneLineParser(argparse.ArgumentParser):
    """An argparse parser whose errors are one line, `sparsedyn COMMAND: error: MESSAGE`, without the usage
    block (`--help` shows it); the subcommands' parsers are of this class too."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="sparsedyn",
        description="Model-based control with sparse neural dynamics.",
    )
    subcommands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    envs.cli.add_commands(subcommands)
    dynamics.cli.add_commands(subcommands)
    mpc.cli.add_commands(subcommands)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit:  # --help (0) or a malformed command line (2): the exit status, as for any run
        return exit.code
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
