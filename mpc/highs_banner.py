"""Keep HiGHS's banner out of stdout, which holds a command's results only (`sparsedyn control ... > table.md`).

HiGHS writes "Running HiGHS <version> ... Copyright ..." to the process's standard output (file
descriptor 1, from C, past Python's sys.stdout) when the process makes its first Highs instance,
whatever the instance's options ("output_flag" comes too late). `silence_highs_banner` makes that first
instance with descriptor 1 pointed at the null device; later instances print nothing.
"""

from __future__ import annotations

import ctypes
import os
import sys

_silenced = False


def silence_highs_banner() -> None:
    """Make the process's first HiGHS instance with stdout sent to the null device, so its banner is lost.

    Call it before the first Highs instance is made (mpc.planners does, for the MILP planners); later calls
    do nothing. Python's and C's buffered output is flushed before and after, so nothing else is lost.
    """
    global _silenced
    if _silenced:
        return
    import highspy

    sys.stdout.flush()
    saved = os.dup(1)
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        highspy.Highs()
        _flush_c_stdout()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(null)
    _silenced = True


def _flush_c_stdout() -> None:
    """fflush(NULL): C's stdout buffer may still hold the banner when stdout is a file or a pipe."""
    try:
        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError, TypeError):  # no C library to load by that name (e.g. Windows)
        pass
