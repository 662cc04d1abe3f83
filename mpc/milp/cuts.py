"""Ideal single-neuron cuts for the big-M ReLUs of a planning program (Anderson et al., 2020), as rows.

The big-M rows of a switching ReLU (mpc.milp.formulation) are the weakest valid description of it: in
the LP relaxation a fractional binary lets y sit far above max(0, z). For y = max(0, z) with

    z = sum_j c_j v_j + d        (v_j: the program columns the pre-activation is an expression of,
                                  L_j <= v_j <= U_j their column bounds)

and its binary a (a = 1: y = z >= 0, a = 0: y = 0 >= z), every subset I of the inputs gives a valid row

    y <= sum_{j in I} c_j (v_j - L'_j (1 - a)) + (d + sum_{j not in I} c_j U'_j) a

where L'_j and U'_j are the bounds at which c_j v_j is smallest and largest (L_j and U_j where c_j >= 0,
swapped where c_j < 0). With y >= 0 and y >= z these rows describe the convex hull of one neuron over
its input box (Anderson, Huchette, Ma, Tjandraatmadja, Vielma: "Strong mixed-integer programming
formulations for trained neural networks", Mathematical Programming 183, 2020, Theorem 1 and
Proposition 12). There are 2^(inputs) of them, so they are separated: at a point, the most violated
row of a neuron takes j into I exactly where c_j (v_j - L'_j (1 - a)) < c_j U'_j a, in time linear in
its inputs. `tighten_with_cuts` repeats: solve the LP relaxation, add the violated rows at its optimum.

Every row is valid for every integer point of the program, so adding them never removes a plan and
never changes the optimum; only the relaxation's bound (and branch-and-bound's pruning) changes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import highspy
import numpy as np
import scipy.sparse as sp

from mpc.errors import InfeasibleError
from mpc.milp.formulation import NetworkEncoding
from mpc.milp.graph_formulation import GraphEncoding
from mpc.milp.highs import new_highs, pass_program
from mpc.milp.program import MatrixProgram

CUT_TOLERANCE = 1e-6  # a row counts as violated where y exceeds its right-hand side by more than this (relative)


@dataclass(frozen=True)
class SwitchingNeurons:
    """The switching ReLUs of a program with their pre-activation expressions, as flat arrays.

    Neuron k has output column y[k] and binary a[k]; its pre-activation is offset[k] plus the sum of
    values[e] * v[columns[e]] over the entries e with neuron[e] == k (one entry per column).

    Shapes:
        y, a, offset: (N,); neuron, columns, values: (entries,).
    """

    y: np.ndarray
    a: np.ndarray
    offset: np.ndarray
    neuron: np.ndarray
    columns: np.ndarray
    values: np.ndarray

    @staticmethod
    def of(dynamics: NetworkEncoding | GraphEncoding) -> SwitchingNeurons:
        """Every switching ReLU of an MLP's or a graph model's encoding (mpc.milp.formulation)."""
        encodings = (dynamics.edges, dynamics.nodes) if isinstance(dynamics, GraphEncoding) else (dynamics,)
        parts, count = [], 0
        for encoding in encodings:
            for layer in encoding.hidden:
                switching = (layer.binary >= 0).reshape(-1)
                number = np.cumsum(switching) - 1  # position among the layer's switching neurons
                pre = layer.pre_map
                keep = switching[pre.rows]
                parts.append(
                    (
                        layer.post.reshape(-1)[switching],
                        layer.binary.reshape(-1)[switching],
                        pre.offset.reshape(-1)[switching],
                        number[pre.rows[keep]] + count,
                        pre.columns[keep],
                        pre.values[keep],
                    )
                )
                count += int(switching.sum())
        if not parts:
            empty = np.zeros(0)
            return SwitchingNeurons(*(empty.astype(np.int64),) * 2, empty, empty.astype(np.int64), empty, empty)
        y, a, offset, neuron, columns, values = (np.concatenate(field) for field in zip(*parts))
        return SwitchingNeurons(y, a, offset, neuron, columns.astype(np.int64), values)

    @property
    def count(self) -> int:
        return self.y.size


def separate(
    neurons: SwitchingNeurons, program: MatrixProgram, point: np.ndarray
) -> tuple[sp.csr_array, np.ndarray, np.ndarray]:
    """The most violated ideal cut of every neuron that has one at `point`, as rows for `MatrixProgram.with_rows`.

    A neuron with an input column of infinite bound gets no cut (its rows would hold infinite values).

    Shapes:
        point (columns,) -> matrix (cuts, columns), lower (cuts,) all -inf, upper (cuts,).
    """
    c = neurons.values
    low, high = program.col_lower[neurons.columns], program.col_upper[neurons.columns]
    smallest = np.where(c >= 0, low, high)  # L'_j
    largest = np.where(c >= 0, high, low)  # U'_j
    a = point[neurons.a][neurons.neuron]
    with np.errstate(invalid="ignore"):  # inf * 0 where a bound is infinite: such neurons are dropped below
        inside = c * (point[neurons.columns] - smallest * (1.0 - a))
        outside = c * largest * a
        chosen = inside < outside  # j in I
        right = np.bincount(neurons.neuron, np.minimum(inside, outside), minlength=neurons.count)
    right += neurons.offset * point[neurons.a]
    finite = np.bincount(neurons.neuron, ~np.isfinite(smallest * largest), minlength=neurons.count) == 0
    y = point[neurons.y]
    violated = finite & (y - right > CUT_TOLERANCE * (1.0 + np.abs(y)))
    # Row: y - sum_{I} c_j v_j - (d + sum_I c_j L'_j + sum_{not I} c_j U'_j) a <= -sum_I c_j L'_j.
    entries = violated[neurons.neuron]
    neuron, chosen, c = neurons.neuron[entries], chosen[entries], c[entries]
    row_of = np.cumsum(violated) - 1
    count = int(violated.sum())
    smallest, largest = smallest[entries], largest[entries]
    a_weight = -(
        neurons.offset[violated]
        + np.bincount(row_of[neuron], np.where(chosen, c * smallest, c * largest), minlength=count)
    )
    upper = -np.bincount(row_of[neuron], np.where(chosen, c * smallest, 0.0), minlength=count)
    rows = np.concatenate([np.arange(count), np.arange(count), row_of[neuron[chosen]]])
    columns = np.concatenate([neurons.y[violated], neurons.a[violated], neurons.columns[entries][chosen]])
    values = np.concatenate([np.ones(count), a_weight, -c[chosen]])
    matrix = sp.csr_array((values, (rows, columns)), shape=(count, program.num_columns))
    matrix.sum_duplicates()
    return matrix, np.full(count, -np.inf), upper


@dataclass(frozen=True)
class CutRecord:
    """What `tighten_with_cuts` did: rounds of separation, rows added, and the LP relaxation's bound before
    and after (None where its LP was not solved in time)."""

    rounds: int
    cuts: int
    relaxation_before: float | None
    relaxation_after: float | None
    time: float

    def record(self) -> dict:
        return {
            "cut_rounds": self.rounds,
            "cuts": self.cuts,
            "relaxation_before": self.relaxation_before,
            "relaxation_after": self.relaxation_after,
            "cut_time": self.time,
        }


def tighten_with_cuts(
    program: MatrixProgram,
    dynamics: NetworkEncoding | GraphEncoding,
    rounds: int,
    deadline: float = np.inf,
    threads: int = 1,
) -> tuple[MatrixProgram, CutRecord]:
    """The program with up to `rounds` rounds of ideal cuts: solve the LP relaxation, add the violated cuts at its
    optimum, repeat; stops early when no cut is violated or `deadline` (time.perf_counter()) has passed.

    Returns:
        The program with the cuts as extra rows (the same columns), and a CutRecord.

    Raises:
        InfeasibleError: the LP relaxation is infeasible (so is the program).
    """
    began = time.perf_counter()
    neurons = SwitchingNeurons.of(dynamics)
    bounds, added, done = [], 0, 0
    while neurons.count:
        point = _relaxation_optimum(program, deadline, threads)
        if point is None:
            break
        bounds.append(program.objective(point))
        if done == rounds:
            break
        matrix, lower, upper = separate(neurons, program, point)
        if not upper.size:
            break
        program = program.with_rows(matrix, lower, upper)
        added += upper.size
        done += 1
    after = bounds[-1] if len(bounds) == done + 1 else None  # the relaxation with every cut added was solved
    return program, CutRecord(done, added, bounds[0] if bounds else None, after, time.perf_counter() - began)


def _relaxation_optimum(program: MatrixProgram, deadline: float, threads: int) -> np.ndarray | None:
    """The LP relaxation's optimal point, or None if it was not found before `deadline`.

    Raises:
        InfeasibleError: the LP relaxation is infeasible.
    """
    left = deadline - time.perf_counter()
    if left <= 0:
        return None
    highs = new_highs(threads, None if np.isinf(left) else left)
    highs.setOptionValue("presolve", "off")
    pass_program(highs, program, relax=True)
    highs.run()
    status = highs.getModelStatus()
    if status == highspy.HighsModelStatus.kInfeasible:
        raise InfeasibleError("the planning program is infeasible (even its LP relaxation)")
    if status != highspy.HighsModelStatus.kOptimal:
        return None
    return np.asarray(highs.getSolution().col_value)
