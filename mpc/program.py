"""Matrix programs: the seam between the MILP encoders and the solvers (seam 4 in DESIGN.md).

A `MatrixProgram` is a mixed-integer linear program in plain arrays,

    minimise    cost . v
    subject to  row_lower <= matrix @ v <= row_upper
                col_lower <= v <= col_upper,   v[j] integer where integrality[j]

plus named column blocks: integer arrays of column indices, any shape, -1 where a position holds
no column (for example a neuron that is always off). The blocks "x" (H+1, state_dim) and "u"
(H, action_dim) map (step, state index) and (step, action index) to columns; the solvers never
look at names, the Pyomo export turns every block into one indexed variable.

`ProgramBuilder` assembles a program from blocks of columns and blocks of rows, each added in
one vectorised call as numpy arrays (row, column, value triplets); scipy only builds the final
matrix, so assembling even a small program costs well under a millisecond per block.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

ABSENT = -1  # a block position without a column


def spread(value, shape: tuple[int, ...]) -> np.ndarray:
    """`value` broadcast to a float array of `shape`; cheap for scalars and exact shapes (hot path)."""
    value = np.asarray(value, dtype=np.float64)
    if value.shape == shape:
        return value
    if value.ndim == 0:
        return np.full(shape, value)
    return np.broadcast_to(value, shape)


@dataclass(frozen=True)
class MatrixProgram:
    """A MILP as arrays: CSR constraint matrix, row/column bounds, integrality, linear cost."""

    matrix: sp.csr_array  # (rows, columns)
    row_lower: np.ndarray
    row_upper: np.ndarray
    col_lower: np.ndarray
    col_upper: np.ndarray
    integrality: np.ndarray  # bool per column
    cost: np.ndarray
    blocks: dict[str, np.ndarray]

    @property
    def num_columns(self) -> int:
        return self.col_lower.shape[0]

    @property
    def num_rows(self) -> int:
        return self.row_lower.shape[0]

    @property
    def num_binaries(self) -> int:
        return int(self.integrality.sum())

    @property
    def state_columns(self) -> np.ndarray:
        """(H + 1, state_dim) column of every state entry x[t, i]."""
        return self.blocks["x"]

    @property
    def action_columns(self) -> np.ndarray:
        """(H, action_dim) column of every action entry u[t, j]."""
        return self.blocks["u"]

    def objective(self, values: np.ndarray) -> float:
        return float(self.cost @ values)

    def violation(self, values: np.ndarray) -> float:
        """Largest violation of any row, column bound or integrality by a primal point."""
        rows = self.matrix @ values
        integer_values = values[self.integrality]
        return float(
            max(
                np.max(self.row_lower - rows, initial=0.0),
                np.max(rows - self.row_upper, initial=0.0),
                np.max(self.col_lower - values, initial=0.0),
                np.max(values - self.col_upper, initial=0.0),
                np.max(np.abs(integer_values - np.round(integer_values)), initial=0.0),
            )
        )

    def with_column_bounds(self, columns: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> MatrixProgram:
        """A copy with some column bounds replaced (for example actions fixed to given values)."""
        col_lower, col_upper = self.col_lower.copy(), self.col_upper.copy()
        col_lower[columns], col_upper[columns] = lower, upper
        return MatrixProgram(
            self.matrix, self.row_lower, self.row_upper, col_lower, col_upper, self.integrality, self.cost, self.blocks
        )


class ProgramBuilder:
    """Collects column blocks and row blocks, then assembles one `MatrixProgram`."""

    def __init__(self) -> None:
        self.num_columns = 0
        self.num_rows = 0
        self._col_lower: list[np.ndarray] = []
        self._col_upper: list[np.ndarray] = []
        self._integrality: list[np.ndarray] = []
        self._cost_terms: list[tuple[np.ndarray, np.ndarray]] = []
        self._row_lower: list[np.ndarray] = []
        self._row_upper: list[np.ndarray] = []
        self._entries: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.blocks: dict[str, np.ndarray] = {}

    def add_columns(
        self, name: str, present: np.ndarray, lower: np.ndarray, upper: np.ndarray, integer: bool = False
    ) -> np.ndarray:
        """Add one column per True entry of `present`; returns the block (same shape, -1 elsewhere).

        lower/upper broadcast to the shape of `present`; only the present positions are used.
        """
        if name in self.blocks:
            raise ValueError(f"column block {name!r} exists already")
        present = np.asarray(present, dtype=bool)
        count = int(present.sum())
        block = np.full(present.shape, ABSENT, dtype=np.int64)
        block[present] = np.arange(self.num_columns, self.num_columns + count)
        self._col_lower.append(spread(lower, present.shape)[present])
        self._col_upper.append(spread(upper, present.shape)[present])
        self._integrality.append(np.full(count, integer))
        self.num_columns += count
        self.blocks[name] = block
        return block

    def add_rows(
        self, count: int, rows: np.ndarray, columns: np.ndarray, values: np.ndarray, lower, upper
    ) -> None:
        """Add `count` rows lower <= sum of values * v[columns] <= upper from (row, column, value) triplets.

        Rows are numbered 0..count-1 within the block; repeated (row, column) pairs add up.
        """
        if columns.size and columns.max() >= self.num_columns:
            raise ValueError("row coefficients refer to columns that do not exist yet")
        entries = (np.asarray(rows) + self.num_rows, np.asarray(columns), np.asarray(values, dtype=np.float64))
        self._entries.append(entries)
        self._row_lower.append(spread(lower, (count,)))
        self._row_upper.append(spread(upper, (count,)))
        self.num_rows += count

    def add_sum_rows(self, terms: list[tuple[np.ndarray, np.ndarray | float]], lower, upper) -> None:
        """One row per position: lower <= sum of coefficient * column over the (columns, coefficients) terms <= upper.

        Every term's columns is a 1-D array of the same length; coefficients broadcast to it.
        """
        count = terms[0][0].size
        rows = np.tile(np.arange(count), len(terms))
        columns = np.concatenate([columns for columns, _ in terms])
        values = np.concatenate([spread(coefficients, (count,)) for _, coefficients in terms])
        self.add_rows(count, rows, columns, values, lower, upper)

    def add_cost(self, columns: np.ndarray, weights: np.ndarray) -> None:
        """Add weights to the linear cost of the given columns."""
        columns, weights = np.broadcast_arrays(np.asarray(columns), np.asarray(weights, dtype=np.float64))
        self._cost_terms.append((columns.ravel(), weights.ravel()))

    def build(self) -> MatrixProgram:
        concat = lambda parts: np.concatenate(parts) if parts else np.zeros(0)  # noqa: E731
        if self._entries:
            rows, cols, values = (np.concatenate(part) for part in zip(*self._entries))
        else:
            rows = cols = np.zeros(0, dtype=np.int64)
            values = np.zeros(0)
        matrix = sp.csr_array((values, (rows, cols)), shape=(self.num_rows, self.num_columns))
        matrix.sum_duplicates()
        matrix.eliminate_zeros()
        cost = np.zeros(self.num_columns)
        for columns, weights in self._cost_terms:
            np.add.at(cost, columns, weights)
        return MatrixProgram(
            matrix=matrix,
            row_lower=concat(self._row_lower),
            row_upper=concat(self._row_upper),
            col_lower=concat(self._col_lower),
            col_upper=concat(self._col_upper),
            integrality=concat(self._integrality).astype(bool),
            cost=cost,
            blocks=dict(self.blocks),
        )
