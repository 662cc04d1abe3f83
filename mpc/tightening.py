"""LP-based bound tightening: tighter big-M values and fewer binaries, bought with many small LPs.

Step by step and layer by layer, every ReLU that the bounds so far leave switching gets its
pre-activation minimised and maximised over the LP relaxation of the program up to that step
(all earlier steps, the workspace box and the state constraints included), and so do the next
state's entries. Every tightened bound feeds what follows, so neurons found stable need no LP
further on. The LPs share one HiGHS instance per layer and only change their objective, so each
one starts from the previous basis.
"""

from __future__ import annotations

import dataclasses

import highspy
import numpy as np

from dynamics.frozen import FrozenNetwork
from mpc.bounds import RolloutBounds, refine_rollout_bounds
from mpc.errors import InfeasibleError
from mpc.highs_solver import new_highs, pass_program
from mpc.horizon import build_horizon_program
from mpc.problem import PlanningProblem

SAFETY = 1e-7  # absolute slack added to LP bounds, above HiGHS's LP tolerances


def _lp_ranges(program, columns: np.ndarray, threads: int) -> tuple[np.ndarray, np.ndarray]:
    """Minimum and maximum of each given column over the LP relaxation of `program`."""
    highs = new_highs(threads)
    # Only the objective changes between these LPs: the last basis stays primal feasible, so
    # primal simplex without presolve restarts from it (half the time of the default).
    highs.setOptionValue("presolve", "off")
    highs.setOptionValue("simplex_strategy", 4)
    pass_program(highs, dataclasses.replace(program, cost=np.zeros(program.num_columns)), relax=True)
    low, high = np.empty(columns.size), np.empty(columns.size)
    for index, column in enumerate(columns.tolist()):
        for sign, target in ((1.0, low), (-1.0, high)):
            highs.changeColCost(column, sign)
            highs.run()
            status = highs.getModelStatus()
            if status != highspy.HighsModelStatus.kOptimal:
                raise InfeasibleError(
                    "the planning program is infeasible (its LP relaxation is: "
                    f"{highs.modelStatusToString(status)}); check the state constraints and workspace box"
                )
            target[index] = sign * highs.getInfo().objective_function_value
        highs.changeColCost(column, 0.0)
    scale = SAFETY * (1.0 + np.maximum(np.abs(low), np.abs(high)))
    return low - scale, high + scale


def tighten_rollout_bounds(
    network: FrozenNetwork, problem: PlanningProblem, bounds: RolloutBounds, threads: int = 1
) -> RolloutBounds:
    """The given rollout bounds tightened by LP: switching ReLUs and next states, step by step."""
    output_layer = len(network.layers) - 1

    def tighten(step: int, layer: int, prefix: RolloutBounds) -> tuple[np.ndarray, np.ndarray]:
        encoded = build_horizon_program(network, dataclasses.replace(problem, horizon=step + 1, warm_start=None), prefix)
        if layer == output_layer:
            return _lp_ranges(encoded.program, encoded.program.state_columns[step + 1], threads)
        columns = encoded.dynamics.hidden[layer].pre[step]
        switching = np.flatnonzero(columns >= 0)
        low, high = np.full(columns.size, -np.inf), np.full(columns.size, np.inf)
        low[switching], high[switching] = _lp_ranges(encoded.program, columns[switching], threads)
        return low, high

    return refine_rollout_bounds(network, problem, bounds, tighten)
