"""LP-based bound tightening: tighter big-M values and fewer binaries, bought with many small LPs.

Step by step and layer by layer, every ReLU that interval bounds leave switching gets its
pre-activation minimised and maximised over the LP relaxation of the program up to that step
(all earlier steps, the workspace box and the state constraints included), and so do the next
state's entries. Every tightened bound feeds the interval propagation of what follows, so
neurons found stable need no LP further on. The LPs share one HiGHS instance per layer and
only change their objective, so each one starts from the previous basis.
"""

from __future__ import annotations

import dataclasses

import highspy
import numpy as np

from dynamics.frozen import FrozenNetwork
from mpc.bounds import NetworkBounds, RolloutBounds, rollout_step_bounds, stack_copies
from mpc.errors import InfeasibleError
from mpc.highs_solver import new_highs, pass_program
from mpc.horizon import build_horizon_program
from mpc.problem import PlanningProblem

SAFETY = 1e-7  # absolute slack added to LP bounds, above HiGHS's LP tolerances


def _lp_ranges(program, columns: np.ndarray, threads: int) -> tuple[np.ndarray, np.ndarray]:
    """Minimum and maximum of each given column over the LP relaxation of `program`."""
    highs = new_highs(threads)
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


def _with_layer(bounds: NetworkBounds, layer: int, low: np.ndarray, high: np.ndarray) -> NetworkBounds:
    pre_low, pre_high = list(bounds.pre_low), list(bounds.pre_high)
    pre_low[layer], pre_high[layer] = low, high
    return dataclasses.replace(bounds, pre_low=tuple(pre_low), pre_high=tuple(pre_high))


def tighten_rollout_bounds(
    network: FrozenNetwork, problem: PlanningProblem, bounds: RolloutBounds, threads: int = 1
) -> RolloutBounds:
    """Interval rollout bounds tightened by LP, never looser than the given ones."""
    n = network.output_dim
    workspace_low = np.full(n, -np.inf) if problem.workspace_low is None else problem.workspace_low
    workspace_high = np.full(n, np.inf) if problem.workspace_high is None else problem.workspace_high
    state_low, state_high = bounds.state_low.copy(), bounds.state_high.copy()
    steps = [bounds.network.copy_range(step, step + 1) for step in range(bounds.horizon)]

    def step_bounds(step: int) -> tuple[NetworkBounds, np.ndarray, np.ndarray]:
        return rollout_step_bounds(
            network, state_low[step], state_high[step], problem.action_low, problem.action_high,
            workspace_low, workspace_high, step, known=steps[step],
        )  # fmt: skip

    def prefix_program(step: int):
        """The program of steps 0..step with the bounds known so far (its cost is not used)."""
        prefix = dataclasses.replace(problem, horizon=step + 1, warm_start=None)
        prefix_bounds = RolloutBounds(state_low[: step + 2], state_high[: step + 2], stack_copies(steps[: step + 1]))
        return build_horizon_program(network, prefix, prefix_bounds)

    for step in range(bounds.horizon):
        for layer in range(len(network.layers) - 1):
            steps[step], _, _ = step_bounds(step)
            encoded = prefix_program(step)
            pre_columns = encoded.dynamics.hidden[layer].pre[step]
            switching = np.flatnonzero(pre_columns >= 0)
            if switching.size == 0:
                continue
            low, high = _lp_ranges(encoded.program, pre_columns[switching], threads)
            layer_low, layer_high = steps[step].pre_low[layer].copy(), steps[step].pre_high[layer].copy()
            layer_low[0, switching] = np.maximum(layer_low[0, switching], low)
            layer_high[0, switching] = np.minimum(layer_high[0, switching], high)
            steps[step] = _with_layer(steps[step], layer, layer_low, layer_high)
        steps[step], state_low[step + 1], state_high[step + 1] = step_bounds(step)
        encoded = prefix_program(step)
        low, high = _lp_ranges(encoded.program, encoded.program.state_columns[step + 1], threads)
        state_low[step + 1] = np.maximum(state_low[step + 1], low)
        state_high[step + 1] = np.minimum(state_high[step + 1], high)
    return RolloutBounds(state_low, state_high, stack_copies(steps))
