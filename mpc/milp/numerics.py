"""Numerics of the planning program: exact rescaling of badly scaled networks, and the coefficient check.

HiGHS solves a program in double precision with absolute tolerances (primal feasibility 1e-7, integrality
1e-6) and takes some of its numbers out of play: it drops matrix entries of size at most
`small_matrix_value` (1e-9) without a word, and warns that a program with finite bounds above 1e6 (1.16's
"excessively large bounds") is badly scaled, "which may compromise the speed, accuracy and reliability". In a
big-M encoding a large value hurts twice: with the integrality tolerance a binary a = 1e-6 counts as 0, so
a ReLU y <= U a that is "off" can still pass U * 1e-6 (a state unit for U = 1e6). A program outside those
limits comes back "optimal, gap 0" at a point that is not the model's optimum, or HiGHS refuses it
(entries of 1e15, `large_matrix_value`, and more).

Two things keep the planners' programs inside:

- `balanced`: a ReLU is positively homogeneous, relu(z / s) = relu(z) / s for s > 0, so a hidden neuron's
  incoming weights and bias can be divided by s and its outgoing weights multiplied by s without changing
  the network's function. With s a power of two the rescaled network computes the same floats (no rounding
  anywhere, barring under- or overflow). A network whose neurons take weights of 1e8 in and give 1e-9 out
  (first layer times 1e8, last layer divided by 1e8) is balanced back to weights near 1; a trained network
  (every neuron within a factor 2^BALANCE_SLACK of balanced: at most 2^2.2 in the bundled checkpoints) is
  left as it is.
- `check_coefficients`: at build time, before HiGHS sees the program, its coefficient range is measured
  (`coefficient_range`: matrix entries, finite row and column bounds, big-M values among both) and a
  program with a value above LARGE_VALUE, or with entries HiGHS would drop that change a row by more than
  its feasibility tolerance (an entry of 1e-12 on a column bounded by 100 changes nothing that matters;
  one of 2e-10 on a ReLU output bounded by 7e8 does), is refused with `NumericsError`, naming the cause:
  no workspace box (the state bounds, and with them the big-M values, grow step after step: 9e9 at H = 12
  and 3e24 at H = 30 on the bundled sparse pushing model with interval bounds), or a model whose weights no
  exact rescaling brings into range.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from dynamics.frozen import FrozenGraph, FrozenLayer, FrozenNetwork
from mpc.errors import NumericsError
from mpc.milp.program import MatrixProgram
from mpc.problem import PlanningProblem

SMALL_MATRIX_VALUE = 1e-9  # HiGHS's small_matrix_value: matrix entries of at most this size are dropped
PRIMAL_TOLERANCE = 1e-7  # HiGHS's primal_feasibility_tolerance
LARGE_VALUE = 1e6  # HiGHS 1.16 warns of "excessively large bounds" above this; big-M * 1e-6 integrality leak
BALANCE_SLACK = 10  # log2 of the imbalance of a neuron `balanced` leaves alone


@dataclass(frozen=True)
class CoefficientRange:
    """Sizes of a program's numbers: its non-zero matrix entries and its largest finite bound (row or column).

    dropped: the most any row can change when HiGHS drops its entries of at most SMALL_MATRIX_VALUE, the
    sum of |entry| * (largest bound of the entry's column) over them; infinite if such a column is unbounded.
    Non-finite matrix entries (an overflowed big-M) count as infinitely large.
    """

    matrix_min: float
    matrix_max: float
    bound_max: float
    dropped: float

    @property
    def largest(self) -> float:
        return max(self.matrix_max, self.bound_max)

    @property
    def ratio(self) -> float:
        """Largest over smallest number (matrix entries and bounds): the span the solver must resolve."""
        return self.largest / self.matrix_min if self.matrix_min > 0 else 1.0

    def within_limits(self) -> bool:
        """Whether HiGHS's tolerances hold: no value above LARGE_VALUE, and the entries HiGHS drops change no
        row by more than its primal feasibility tolerance (PRIMAL_TOLERANCE)."""
        return self.largest <= LARGE_VALUE and self.dropped <= PRIMAL_TOLERANCE

    def record(self) -> dict:
        """For Plan.extras: [smallest, largest] matrix entry, the largest finite bound and `dropped`."""
        return {"matrix": [self.matrix_min, self.matrix_max], "largest_bound": self.bound_max, "dropped": self.dropped}


def coefficient_range(program: MatrixProgram) -> CoefficientRange:
    """The sizes of the program's matrix entries and finite bounds (an empty matrix: 0 for both ends)."""
    entries = np.abs(program.matrix.data)
    entries = np.where(np.isnan(entries), np.inf, entries)
    nonzero = entries[entries > 0]
    bounds = np.abs(np.concatenate([program.col_lower, program.col_upper, program.row_lower, program.row_upper]))
    column_size = np.maximum(np.abs(program.col_lower), np.abs(program.col_upper))
    small = program.matrix.copy()
    small.data = np.where(entries <= SMALL_MATRIX_VALUE, entries, 0.0)
    small.eliminate_zeros()
    dropped = small @ column_size if small.nnz else np.zeros(0)
    return CoefficientRange(
        matrix_min=float(nonzero.min()) if nonzero.size else 0.0,
        matrix_max=float(nonzero.max(initial=0.0)),
        bound_max=float(bounds[np.isfinite(bounds)].max(initial=0.0)),
        dropped=float(dropped.max(initial=0.0)),
    )


def check_coefficients(program: MatrixProgram, problem: PlanningProblem, bounds: str) -> CoefficientRange:
    """The program's coefficient range, if HiGHS can solve the program as it is (`CoefficientRange.within_limits`).

    Args:
        program: the planning program of `problem`.
        problem: its planning problem (the message says whether it has a workspace box).
        bounds: the bound mode that gave the program's big-M values (named in the message).

    Raises:
        NumericsError: a matrix entry HiGHS would drop, or a value above LARGE_VALUE; the message names
            the cause and what to pass instead.
    """
    found = coefficient_range(program)
    if found.within_limits():
        return found
    span = f"the planning program's coefficients span {found.matrix_min:.1e} to {found.largest:.1e}"
    if found.largest > LARGE_VALUE and problem.workspace_low is None:
        raise NumericsError(
            f"{span}: without a workspace box the {bounds} bounds of the predicted states, and the big-M values "
            f"made from them, grow step after step over the horizon of {problem.horizon}, past {LARGE_VALUE:.0e} "
            "where HiGHS's tolerances no longer hold; pass workspace_low and workspace_high (the env's workspace, "
            "as the controller does), or a shorter horizon"
        )
    if found.largest > LARGE_VALUE:
        raise NumericsError(
            f"{span}: big-M values above {LARGE_VALUE:.0e} ({bounds} bounds), where HiGHS's tolerances no longer "
            "hold; the model's predictions or weights are too large for the workspace box: use a smaller "
            'workspace box, tighter bounds ("lp") or a model in smaller units'
        )
    raise NumericsError(
        f"{span}: HiGHS drops matrix entries of at most {SMALL_MATRIX_VALUE:.0e} (small_matrix_value), which "
        f"changes a row by up to {found.dropped:.1e}, so its optimum would not be the model's; the model's "
        "weights span more than an exact rescaling of its neurons recovers: retrain it with weight decay or in "
        "other units"
    )


def _balanced_network(network: FrozenNetwork) -> FrozenNetwork:
    """`network` with every hidden neuron whose incoming and outgoing weights differ in size by more than
    2^(2 BALANCE_SLACK) rescaled by a power of two (see the module docstring), its data ranges (if any) with
    it; `network` itself if none is."""
    layers = list(network.layers)
    ranges = None if network.data_ranges is None else list(network.data_ranges)
    changed = False
    for index in range(len(layers) - 1):
        layer, following = layers[index], layers[index + 1]
        incoming = np.maximum(np.abs(layer.weight).max(axis=1, initial=0.0), np.abs(layer.bias))
        outgoing = np.abs(following.weight).max(axis=0, initial=0.0)
        both = (incoming > 0) & (outgoing > 0)
        exponent = np.zeros(layer.out_dim)
        exponent[both] = np.round(0.5 * np.log2(incoming[both] / outgoing[both]))
        exponent[np.abs(exponent) <= BALANCE_SLACK] = 0.0
        if not exponent.any():
            continue
        changed = True
        scale = np.exp2(exponent)  # powers of two: dividing and multiplying by them is exact
        layers[index] = FrozenLayer(layer.weight / scale[:, None], layer.bias / scale, layer.relu)
        layers[index + 1] = FrozenLayer(following.weight * scale[None, :], following.bias, following.relu)
        if ranges is not None:  # the neuron's pre-activation is divided by its scale, and so is its data range
            ranges[index] = (ranges[index][0] / scale, ranges[index][1] / scale)
    if not changed:
        return network
    return replace(network, layers=tuple(layers), data_ranges=None if ranges is None else tuple(ranges))


def balanced(model: FrozenNetwork | FrozenGraph) -> FrozenNetwork | FrozenGraph:
    """The model with its badly scaled hidden neurons rescaled exactly (a graph model: its edge and node
    networks); the same float outputs for every input, and `model` itself where nothing needs rescaling.
    Data ranges (`FrozenNetwork.data_ranges`) are rescaled with their neurons: a neuron's pre-activation on
    any input stays inside or outside its range as before."""
    if isinstance(model, FrozenGraph):
        edge, node = _balanced_network(model.edge), _balanced_network(model.node)
        return model if edge is model.edge and node is model.node else replace(model, edge=edge, node=node)
    if isinstance(model, FrozenNetwork):
        return _balanced_network(model)
    return model  # not a frozen model: the planner's own check names the mistake
