"""LP-based bound tightening: tighter big-M values and fewer binaries, bought with many small LPs.

Each bound is the minimum or maximum of one variable over the LP relaxation of the program up to
that step (all earlier steps, the workspace box and the state constraints included), as in
optimisation-based bound tightening for ReLU networks (Tjeng et al., "Evaluating Robustness of
Neural Networks with Mixed Integer Programming", ICLR 2019). As a tightener of the step loop
(mpc.milp.bounds.rollout), it bounds every ReLU the bounds so far leave switching, layer by layer
(an MLP's), and every entry of the next state (every model kind). Every tightened bound feeds what
follows, so neurons found stable need no LP further on. The LPs share one HiGHS instance per
layer and only change their objective, so each one starts from the previous basis. A deadline
caps the time spent: tightening goes in step order, so the early steps, whose bounds every later
step inherits, are tightened first.
"""

from __future__ import annotations

import dataclasses
import time

import highspy
import numpy as np

from dynamics.frozen import FrozenGraph, FrozenNetwork
from mpc.errors import InfeasibleError
from mpc.milp.bounds.boxes import RolloutBounds, Tightener
from mpc.milp.highs import new_highs, pass_program
from mpc.milp.horizon import build_horizon_program
from mpc.milp.program import MatrixProgram
from mpc.problem import PlanningProblem

SAFETY = 1e-7  # absolute slack added to LP bounds, above HiGHS's LP tolerances


def lp_ranges(
    program: MatrixProgram, columns: np.ndarray, threads: int, deadline: float
) -> tuple[np.ndarray, np.ndarray]:
    """Minimum and maximum of each given column over the LP relaxation of `program`.

    Every minimum first, then every maximum: consecutive LPs then have similar optima, so each
    restarts close to the last basis. LPs not solved by `deadline` (perf_counter) give -inf/inf,
    and so does an LP HiGHS cannot solve to optimality even from scratch. Every bound is widened by
    SAFETY * (1 + |bound|), above HiGHS's LP tolerances.

    Shapes:
        columns: (C,) column indices -> low (C,), high (C,).

    Raises:
        InfeasibleError: the LP relaxation is infeasible.
    """
    highs = new_highs(threads)
    # Only the objective changes between these LPs, so the last basis stays primal feasible:
    # primal simplex from it, without presolve, beats the default.
    highs.setOptionValue("presolve", "off")
    highs.setOptionValue("simplex_strategy", 4)
    pass_program(highs, dataclasses.replace(program, cost=np.zeros(program.num_columns)), relax=True)
    ranges = {1.0: np.full(columns.size, -np.inf), -1.0: np.full(columns.size, np.inf)}
    for sign, values in ranges.items():
        for index, column in enumerate(columns.tolist()):
            if time.perf_counter() > deadline:
                break
            if np.isfinite(deadline):  # HiGHS stops an LP at the deadline too
                highs.setOptionValue("time_limit", max(deadline - time.perf_counter(), 1e-3))
            highs.changeColCost(column, sign)
            highs.run()
            if highs.getModelStatus() != highspy.HighsModelStatus.kOptimal:
                highs.clearSolver()  # numerical trouble from the warm basis: once more from scratch
                highs.run()
            status = highs.getModelStatus()
            if status in (highspy.HighsModelStatus.kInfeasible, highspy.HighsModelStatus.kUnboundedOrInfeasible):
                raise InfeasibleError(
                    "the planning program is infeasible (even its LP relaxation); check the state constraints "
                    "and workspace box"
                )
            if status == highspy.HighsModelStatus.kOptimal:
                values[index] = sign * highs.getInfo().objective_function_value
            highs.changeColCost(column, 0.0)
    low, high = ranges[1.0], ranges[-1.0]
    return low - SAFETY * (1.0 + np.abs(low)), high + SAFETY * (1.0 + np.abs(high))


def lp_tightener(
    model: FrozenNetwork | FrozenGraph,
    problem: PlanningProblem,
    neurons: bool = True,
    threads: int = 1,
    deadline: float = np.inf,
) -> Tightener:
    """LP bounds as a tightener for `rollout_bounds`: every next state entry, and (if `neurons`) every
    switching ReLU of the hidden layers the loop asks about (an MLP's).

    Args:
        model: the frozen dynamics model.
        problem: the planning problem; each LP is over its program cut to the steps bounded so far.
        neurons: tighten hidden layers too, not only the states.
        threads: HiGHS threads.
        deadline: a time.perf_counter() value; no LP starts after it, what is left keeps its bounds.

    Raises:
        InfeasibleError: the program's LP relaxation is infeasible.
    """

    def tighten(step: int, layer: int | None, prefix: RolloutBounds) -> tuple[np.ndarray, np.ndarray]:
        width = problem.state_dim if layer is None else model.layers[layer].out_dim
        if time.perf_counter() > deadline or (layer is not None and not neurons):
            return np.full(width, -np.inf), np.full(width, np.inf)
        # Without the obstacles: their relaxed disjunctions hardly cut the box, and only add rows.
        prefix_problem = dataclasses.replace(problem, horizon=step + 1, warm_start=None, obstacles=())
        encoded = build_horizon_program(model, prefix_problem, prefix)
        if layer is None:
            return lp_ranges(encoded.program, encoded.program.state_columns[step + 1], threads, deadline)
        columns = encoded.dynamics.hidden[layer].pre[step]
        switching = np.flatnonzero(columns >= 0)
        low, high = np.full(width, -np.inf), np.full(width, np.inf)
        low[switching], high[switching] = lp_ranges(encoded.program, columns[switching], threads, deadline)
        return low, high

    return tighten
