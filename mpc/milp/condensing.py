"""Condensing: the LP of one linear region over the actions and the cost's auxiliary columns only.

With every binary fixed to a pattern (mpc.milp.region), the planning program is an LP whose equality
rows determine every state, pre-activation and message column as an affine function of the actions:
inside one linear region the model is an affine map per step, composed over the horizon. Substituting
that map into the other rows leaves a dense LP over the actions, the cost's absolute-value columns and
the obstacles' depth columns: H m + a few hundred columns however large the model. This is the
"condensed" (batch) form of linear MPC, which eliminates the states through the dynamics (Borrelli,
Bemporad and Morari, Predictive Control for Linear and Hybrid Systems, 2017); HiGHS solves it from
scratch in 5-50 ms (0.3 s on the rope's dense graph) where the region's LP in full takes 8 ms to 5 s
on the bundled models (docs/benchmarks.md).

Per pattern: the binaries are fixed; a switching ReLU's output column y is fixed to 0 (off) or merged
into its pre-activation z (on: y = z), and z's bound takes the sign of its piece; the equality rows
then form a square sparse system in the columns they hold but the actions, solved by one sparse LU
factorisation (scipy.sparse.linalg.splu) for the affine map; every inequality row and every eliminated
column's bounds become rows over the LP's columns. The LP is exactly the region's LP in full with the
eliminated columns substituted: same optimum, same objective.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from mpc.milp.program import FEASIBLE, MatrixProgram


@dataclass(frozen=True)
class CondensedLP:
    """One region's LP over its free columns, and the affine map back to every column of the program.

    Attributes:
        lp: the LP (k columns; `integrality` all False, no blocks), objective without the constant term.
        free: (k,) the program's column of each LP column.
        fixed: (columns,) every column's value where the pattern alone sets it, 0 elsewhere.
        merged, merged_into: (o,) the output column y of every ReLU the pattern turns on, and its
            pre-activation column z, whose value it takes (y = z).
        eliminated: (e,) the program's columns the equality rows determine.
        offset, slope: (e,), (e, d) eliminated values = offset + slope @ (values of `driving`).
        driving: (d,) positions in the LP's columns of those the equality rows hold (the actions).
    """

    lp: MatrixProgram
    free: np.ndarray
    fixed: np.ndarray
    merged: np.ndarray
    merged_into: np.ndarray
    eliminated: np.ndarray
    offset: np.ndarray
    slope: np.ndarray
    driving: np.ndarray

    def values(self, solution: np.ndarray) -> np.ndarray:
        """Every column of the program (columns,) at the LP's point `solution` (k,)."""
        values = self.fixed.copy()
        values[self.free] = solution
        values[self.eliminated] = self.offset + self.slope @ solution[self.driving]
        values[self.merged] = values[self.merged_into]
        return values


class Condenser:
    """Condensed region LPs of one program.

    Args:
        program: the planning program (mpc.milp.horizon).
        binaries: (b,) every binary column, in pattern order.
        pre, post: (r,) the pre-activation z and output y column of each switching ReLU, whose binary is
            binaries[i] for ReLU i (the first r binaries).
        actions: the action columns (any shape): never eliminated.
    """

    def __init__(
        self, program: MatrixProgram, binaries: np.ndarray, pre: np.ndarray, post: np.ndarray, actions: np.ndarray
    ) -> None:
        self.program, self.binaries, self.pre, self.post = program, binaries, pre, post
        self.constant = program.col_lower == program.col_upper
        self.is_action = np.zeros(program.num_columns, dtype=bool)
        self.is_action[np.ravel(actions)] = True

    def condense(self, pattern: np.ndarray) -> CondensedLP | None:
        """The condensed LP of the region of `pattern` (b,) bool; None where a row the pattern alone fills
        (e.g. an obstacle's choice of one face per point and step) is broken: the region is empty.

        Raises:
            ValueError: the equality rows do not determine the columns they hold (not a program of
                mpc.milp.horizon).
        """
        program, columns = self.program, self.program.num_columns
        on = pattern[: self.pre.size]
        fixed = self.constant.copy()
        fixed_values = np.where(self.constant, program.col_lower, 0.0)
        fixed[self.binaries], fixed_values[self.binaries] = True, pattern
        fixed[self.post[~on]], fixed_values[self.post[~on]] = True, 0.0
        source = np.arange(columns)  # the column whose value each column takes
        source[self.post[on]] = self.pre[on]
        kept = ~fixed
        kept[self.post[on]] = False
        kept_columns = np.flatnonzero(kept)  # the region LP's own columns, before elimination
        position = np.full(columns, -1)
        position[kept_columns] = np.arange(kept_columns.size)
        given = np.flatnonzero(~fixed)
        merge = sp.csr_array(
            (np.ones(given.size), (given, position[source[given]])), shape=(columns, kept_columns.size)
        )
        matrix = (program.matrix @ merge).tocsr()
        matrix.eliminate_zeros()
        shift = program.matrix @ fixed_values
        row_low, row_high = program.row_lower - shift, program.row_upper - shift
        empty = np.diff(matrix.indptr) == 0
        if np.any(empty & ((row_low > FEASIBLE) | (row_high < -FEASIBLE))):
            return None
        col_low, col_high = program.col_lower[kept_columns].copy(), program.col_upper[kept_columns].copy()
        col_low[position[self.pre[on]]] = np.maximum(col_low[position[self.pre[on]]], 0.0)
        col_high[position[self.pre[~on]]] = np.minimum(col_high[position[self.pre[~on]]], 0.0)
        # An inequality row left with one column (a big-M row of a fixed ReLU: a sign or a bound of z) is a bound.
        single = (np.diff(matrix.indptr) == 1) & (row_low != row_high)
        column, coefficient = matrix.indices[matrix.indptr[:-1][single]], matrix.data[matrix.indptr[:-1][single]]
        scaled_low, scaled_high = row_low[single] / coefficient, row_high[single] / coefficient
        flipped = coefficient < 0
        np.maximum.at(col_low, column, np.where(flipped, scaled_high, scaled_low))
        np.minimum.at(col_high, column, np.where(flipped, scaled_low, scaled_high))

        equal = (row_low == row_high) & ~empty
        inequality = ~equal & ~empty & ~single
        tied = matrix[equal]
        in_equality = np.zeros(kept_columns.size, dtype=bool)
        in_equality[tied.indices] = True
        eliminated = in_equality & ~self.is_action[kept_columns]
        free = ~eliminated
        driving_columns = in_equality & free  # the actions the equality rows hold
        square = tied[:, eliminated]
        if square.shape[0] != square.shape[1]:
            raise ValueError(
                f"{square.shape[0]} equality rows for {square.shape[1]} columns: the region's equality rows "
                "must determine their columns"
            )
        solved = spla.splu(square.tocsc()).solve(
            np.column_stack([row_low[equal], -tied[:, driving_columns].toarray()])
        )  # eliminated = offset + slope @ driving
        offset, slope = solved[:, 0], solved[:, 1:]

        # Inequality rows and the eliminated columns' bounds, as rows over the free columns.
        driving = np.flatnonzero(driving_columns[free])
        rest = matrix[inequality]
        rest_eliminated = rest[:, eliminated]
        through = sp.csr_array(rest_eliminated @ slope)
        bound_rows = sp.csr_array(slope)
        to_free = sp.csr_array(
            (np.ones(driving.size), (np.arange(driving.size), driving)), shape=(driving.size, int(free.sum()))
        )
        rows = sp.vstack([rest[:, free] + through @ to_free, bound_rows @ to_free], format="csr")
        moved = np.concatenate([rest_eliminated @ offset, offset])
        low = np.concatenate([row_low[inequality], col_low[eliminated]]) - moved
        high = np.concatenate([row_high[inequality], col_high[eliminated]]) - moved
        bounded = np.isfinite(low) | np.isfinite(high)
        rows = rows[bounded]
        rows.eliminate_zeros()

        cost = program.cost @ merge
        lp = MatrixProgram(
            matrix=rows,
            row_lower=low[bounded],
            row_upper=high[bounded],
            col_lower=col_low[free],
            col_upper=col_high[free],
            integrality=np.zeros(int(free.sum()), dtype=bool),
            cost=cost[free] + (cost[eliminated] @ slope) @ to_free,
            blocks={},
        )
        return CondensedLP(
            lp,
            kept_columns[free],
            fixed_values,
            self.post[on],
            self.pre[on],
            kept_columns[eliminated],
            offset,
            slope,
            driving,
        )
