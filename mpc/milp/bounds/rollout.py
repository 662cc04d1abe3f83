"""The one step loop: bounds of a model's rollout over the horizon, for every model kind and bound method.

Step by step from the fixed start state x0, the model kind's step function (mpc.milp.kinds)
bounds the step's network copies from the state box and the action box, by interval propagation
(mpc.milp.bounds.interval) or by back-substitution within each copy (mpc.milp.bounds.crown), and
gives the next state box. That box is intersected with the workspace box: the planner only
considers plans whose predicted states stay inside it, and without it the boxes would grow step
after step. Tighteners (back-substitution through the horizon, LP tightening: mpc.milp.bounds.crown,
mpc.milp.bounds.lp) then improve the step's bounds before the next step starts from them. With
`data_ranges`, every step's neuron bounds are also cut to the model's widened data ranges
(mpc.milp.bounds.data_ranges, not sound) as the step is propagated.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dynamics.frozen import FrozenGraph, FrozenNetwork
from mpc.errors import InfeasibleError
from mpc.milp.bounds.boxes import RolloutBounds, Tightener, intersect, workspace_box
from mpc.milp.bounds.data_ranges import clip_to_data_ranges, require_data_ranges
from mpc.milp.kinds import model_kind
from mpc.problem import PlanningProblem


def rollout_bounds(
    model: FrozenNetwork | FrozenGraph,
    problem: PlanningProblem,
    linear: bool = False,
    tighteners: Sequence[Tightener] = (),
    data_ranges: bool = False,
) -> RolloutBounds:
    """Bounds of the model's rollout from problem.state under any actions in the action box.

    With tighteners, every step is tightened in order: each hidden layer the model kind offers
    (an MLP's, `ModelKind.hidden_layers`), then the next state. The tighteners run one after the
    other, each seeing the bounds the previous ones found (so a cheap one can spare an expensive
    one work), and before every layer after the first the step's bounds are propagated again from
    the tightened ones: every improvement carries forward.

    Args:
        model: the frozen dynamics model ([state, action] -> next state).
        problem: the planning problem: start state, horizon, action box, workspace box.
        linear: propagate every step by back-substitution within each network copy
            (`linear_copy_bounds`) instead of intervals.
        tighteners: `Tightener`s, e.g. `linear_tightener`, `lp_tightener`.
        data_ranges: intersect every step's hidden pre-activation bounds with the model's widened data
            ranges as the step is propagated (mpc.milp.bounds.data_ranges; not sound: the bounds then
            hold only for plans whose neurons stay within them).

    Returns:
        The state box of every step (the start state first) and the bounds of every step's copies.

    Raises:
        InfeasibleError: no action sequence keeps the predicted states in the workspace box (and,
            with LP tightening, the state constraints; with data ranges, the neurons within them).
        ProblemError: data_ranges without data ranges on the model.
    """
    if data_ranges:
        require_data_ranges(model)
    kind = model_kind(model)
    horizon, n = problem.horizon, problem.state_dim
    workspace_low, workspace_high = workspace_box(n, problem.workspace_low, problem.workspace_high)
    state_low, state_high = np.empty((horizon + 1, n)), np.empty((horizon + 1, n))
    state_low[0] = state_high[0] = np.asarray(problem.state, dtype=np.float64)
    steps = [None] * horizon
    layers = (*kind.hidden_layers(model), None) if tighteners else ()

    def propagate(step: int) -> tuple[np.ndarray, np.ndarray]:
        input_low = np.concatenate([state_low[step], problem.action_low])
        input_high = np.concatenate([state_high[step], problem.action_high])
        steps[step], low, high = kind.step_bounds(model, input_low, input_high, linear, steps[step])
        clipped = clip_to_data_ranges(steps[step], model) if data_ranges else None
        if clipped is not None:  # the data ranges tightened some neuron: carry that through the later layers
            steps[step], low, high = kind.step_bounds(model, input_low, input_high, linear, clipped)
        return intersect(low, high, workspace_low, workspace_high, f" (at step {step + 1})")

    def prefix(step: int) -> RolloutBounds:
        return RolloutBounds(state_low[: step + 2], state_high[: step + 2], steps[0].concatenate(steps[: step + 1]))

    def every_step() -> None:
        for step in range(horizon):
            state_low[step + 1], state_high[step + 1] = propagate(step)
            for index, layer in enumerate(layers):
                if index > 0:
                    state_low[step + 1], state_high[step + 1] = intersect(
                        state_low[step + 1], state_high[step + 1], *propagate(step)
                    )
                for tighten in tighteners:
                    low, high = tighten(step, layer, prefix(step))
                    if layer is None:
                        state_low[step + 1], state_high[step + 1] = intersect(
                            state_low[step + 1], state_high[step + 1], low, high
                        )
                    else:
                        steps[step] = steps[step].with_layer_bounds(layer, low, high)

    try:
        every_step()
    except InfeasibleError as error:
        if not data_ranges:
            raise
        raise InfeasibleError(
            f"{error}, with every neuron within its data range (data_ranges; not sound): the problem may lie "
            "outside the model's data, plan it without data ranges"
        ) from error
    return RolloutBounds(state_low, state_high, steps[0].concatenate(steps))
