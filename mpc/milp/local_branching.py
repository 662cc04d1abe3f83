"""Local branching: the planning program restricted to the binary patterns near an incumbent's.

Fischetti and Lodi, "Local branching", Mathematical Programming 98 (2003). With a* the incumbent's
binaries (0 or 1) and a the program's, the row

    sum_{i: a*_i = 1} (1 - a_i) + sum_{i: a*_i = 0} a_i  <=  k

keeps only the patterns that differ from the incumbent's in at most k binaries: the neighbourhood of
its linear region (a ReLU copy or an obstacle face flipped, at any step). Branch-and-bound on that
program is a MILP over k-flip neighbours, far smaller than the full program, and its optimum is a
plan of the full program.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from mpc.milp.program import MatrixProgram


def local_branching_program(program: MatrixProgram, incumbent: np.ndarray, k: int) -> MatrixProgram:
    """The program with the local branching row around `incumbent`'s binaries.

    Args:
        program: the planning program (mpc.milp.horizon), binaries in [0, 1].
        incumbent: (columns,) a point of the program; its binaries are rounded to 0 or 1.
        k: the largest number of binaries that may differ from the incumbent's, >= 0.

    Returns:
        A copy of `program` with one more row; the incumbent is a feasible point of it.

    Raises:
        ValueError: k < 0 or an incumbent of the wrong length.
    """
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    if incumbent.shape != (program.num_columns,):
        raise ValueError(f"incumbent must have {program.num_columns} entries, got shape {incumbent.shape}")
    binaries = np.flatnonzero(program.integrality)
    on = incumbent[binaries] > 0.5
    # sum_{on} (1 - a) + sum_{off} a <= k  <=>  sum_{off} a - sum_{on} a <= k - |on|
    row = sp.csr_array(
        (np.where(on, -1.0, 1.0), (np.zeros(binaries.size, dtype=np.int64), binaries)),
        shape=(1, program.num_columns),
    )
    return program.with_rows(row, np.array([-np.inf]), np.array([float(k - on.sum())]))
