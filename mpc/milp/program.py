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
matrix, so a block costs a few microseconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

ABSENT = -1  # a block position without a column
FEASIBLE = 1e-6  # a point violating no row, bound or integrality by more than this is a point of the program


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

    def with_rows(self, matrix: sp.csr_array, lower: np.ndarray, upper: np.ndarray) -> MatrixProgram:
        """A copy with rows appended: `matrix` (rows, columns), `lower` and `upper` (rows,) their bounds."""
        return MatrixProgram(
            sp.vstack([self.matrix, matrix], format="csr"),
            np.concatenate([self.row_lower, lower]),
            np.concatenate([self.row_upper, upper]),
            self.col_lower,
            self.col_upper,
            self.integrality,
            self.cost,
            self.blocks,
        )


def _scalar(value) -> bool:
    """A Python number (kept as is by the builder until `build`, cheaper than a filled array)."""
    return isinstance(value, (int, float))


def masked(value, mask: np.ndarray):
    """`value` broadcast to the shape of `mask`, at its True positions; a Python scalar stays a scalar (hot path)."""
    return value if _scalar(value) else spread(value, mask.shape)[mask]


def _joined(parts: list, counts: list[int], total: int, dtype=np.float64) -> np.ndarray:
    """One array of `total` entries from consecutive parts of the given counts, each a scalar or an array."""
    joined = np.empty(total, dtype=dtype)
    start = 0
    for part, count in zip(parts, counts):
        joined[start : start + count] = part
        start += count
    return joined


class ProgramBuilder:
    """Collects column blocks and row blocks, then assembles one `MatrixProgram`.

    Bounds given as scalars stay scalars until `build` fills them in: most blocks have a constant
    bound on one side, and a build of a small program is mostly such per-block overhead.
    """

    def __init__(self) -> None:
        self.num_columns = 0
        self.num_rows = 0
        self._col_counts: list[int] = []
        self._col_lower: list[np.ndarray | float] = []
        self._col_upper: list[np.ndarray | float] = []
        self._integrality: list[bool] = []
        self._cost_terms: list[tuple[np.ndarray, np.ndarray]] = []
        self._row_counts: list[int] = []
        self._row_lower: list[np.ndarray | float] = []
        self._row_upper: list[np.ndarray | float] = []
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
        count = np.count_nonzero(present)
        block = np.full(present.shape, ABSENT, dtype=np.int64)
        block[present] = np.arange(self.num_columns, self.num_columns + count)
        self._col_lower.append(masked(lower, present))
        self._col_upper.append(masked(upper, present))
        self._col_counts.append(count)
        self._integrality.append(integer)
        self.num_columns += count
        self.blocks[name] = block
        return block

    def add_rows(self, count: int, rows: np.ndarray, columns: np.ndarray, values: np.ndarray, lower, upper) -> None:
        """Add `count` rows lower <= sum of values * v[columns] <= upper from (row, column, value) triplets.

        Rows are numbered 0..count-1 within the block; repeated (row, column) pairs add up.
        """
        if columns.size and columns.max() >= self.num_columns:
            raise ValueError("row coefficients refer to columns that do not exist yet")
        entries = (np.asarray(rows) + self.num_rows, np.asarray(columns), np.asarray(values, dtype=np.float64))
        self._entries.append(entries)
        self._row_lower.append(lower if _scalar(lower) else spread(lower, (count,)))
        self._row_upper.append(upper if _scalar(upper) else spread(upper, (count,)))
        self._row_counts.append(count)
        self.num_rows += count

    def add_sum_rows(self, terms: list[tuple[np.ndarray, np.ndarray | float]], lower, upper) -> None:
        """One row per position: lower <= sum of coefficient * column over the (columns, coefficients) terms <= upper.

        Every term's columns is a 1-D array of the same length; coefficients broadcast to it.
        """
        count = terms[0][0].size
        columns = np.concatenate([columns for columns, _ in terms])
        values = _joined([coefficients for _, coefficients in terms], [count] * len(terms), columns.size)
        rows = np.arange(columns.size) % max(count, 1)  # 0..count-1 once per term (count may be 0)
        self.add_rows(count, rows, columns, values, lower, upper)

    def add_cost(self, columns: np.ndarray, weights: np.ndarray) -> None:
        """Add weights to the linear cost of the given columns."""
        columns, weights = np.broadcast_arrays(np.asarray(columns), np.asarray(weights, dtype=np.float64))
        self._cost_terms.append((columns.ravel(), weights.ravel()))

    def build(self) -> MatrixProgram:
        if self._entries:
            rows, cols, values = (np.concatenate(part) for part in zip(*self._entries))
        else:
            rows = cols = np.zeros(0, dtype=np.int64)
            values = np.zeros(0)
        matrix = sp.csr_array((values, (rows, cols)), shape=(self.num_rows, self.num_columns))
        matrix.sum_duplicates()
        matrix.eliminate_zeros()
        if self._cost_terms:
            columns, weights = (np.concatenate(part) for part in zip(*self._cost_terms))
            cost = np.bincount(columns, weights, minlength=self.num_columns)
        else:
            cost = np.zeros(self.num_columns)
        row_counts, col_counts = self._row_counts, self._col_counts
        return MatrixProgram(
            matrix=matrix,
            row_lower=_joined(self._row_lower, row_counts, self.num_rows),
            row_upper=_joined(self._row_upper, row_counts, self.num_rows),
            col_lower=_joined(self._col_lower, col_counts, self.num_columns),
            col_upper=_joined(self._col_upper, col_counts, self.num_columns),
            integrality=_joined(self._integrality, col_counts, self.num_columns, dtype=bool),
            cost=cost,
            blocks=dict(self.blocks),
        )
