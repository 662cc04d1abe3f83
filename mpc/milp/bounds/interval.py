"""Interval bounds on every neuron of a frozen network, and on the states of a planned rollout.

The big-M encoding needs, for every ReLU, bounds l <= z <= u on its pre-activation z: a neuron
with u <= 0 is always off and l >= 0 always on, and neither needs a binary. Interval
propagation gives such bounds cheaply for a batch of input boxes (one per network copy). Over a
planning horizon the state boxes would grow step after step, so every predicted state box is
intersected with the workspace box: the planner only considers plans whose predicted states
stay inside it. `refine_rollout_bounds` then lets tighter methods (mpc.milp.bounds.crown,
mpc.milp.bounds.lp) improve these bounds step by step.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from dynamics.frozen import FrozenNetwork
from mpc.errors import InfeasibleError
from mpc.problem import PlanningProblem


@dataclass(frozen=True)
class NetworkBounds:
    """Bounds for K copies of a network: per hidden layer the pre-activations, then the output.

    pre_low[k], pre_high[k] are (K, width of hidden layer k); output_low/high are (K, output_dim).
    """

    pre_low: tuple[np.ndarray, ...]
    pre_high: tuple[np.ndarray, ...]
    output_low: np.ndarray
    output_high: np.ndarray

    @property
    def copies(self) -> int:
        return self.output_low.shape[0]

    def unstable(self, network: FrozenNetwork) -> list[np.ndarray]:
        """Per hidden layer, (K, width) mask of the ReLUs that can switch (these need binaries)."""
        return [
            layer.relu & (low < 0) & (high > 0)
            for layer, low, high in zip(network.layers[:-1], self.pre_low, self.pre_high)
        ]

    def binary_count(self, network: FrozenNetwork) -> int:
        return int(sum(mask.sum() for mask in self.unstable(network)))

    def copy_range(self, start: int, stop: int) -> NetworkBounds:
        """The bounds of copies start..stop-1."""
        return NetworkBounds(
            tuple(low[start:stop] for low in self.pre_low),
            tuple(high[start:stop] for high in self.pre_high),
            self.output_low[start:stop],
            self.output_high[start:stop],
        )


def _affine_interval(
    weight: np.ndarray, bias: np.ndarray, low: np.ndarray, high: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Exact bounds of weight @ h + bias over the boxes low <= h <= high (batched rows)."""
    positive, negative = np.maximum(weight, 0.0), np.minimum(weight, 0.0)
    return (
        low @ positive.T + high @ negative.T + bias,
        high @ positive.T + low @ negative.T + bias,
    )


def intersect(
    low: np.ndarray, high: np.ndarray, other_low: np.ndarray, other_high: np.ndarray, where: str = ""
) -> tuple[np.ndarray, np.ndarray]:
    """Intersection of two boxes that both hold every feasible point.

    Rounding can make the bounds of a quantity that is exactly determined cross by a hair; there
    the first box is kept. A real crossing means there is no feasible point at all.
    """
    new_low, new_high = np.maximum(low, other_low), np.minimum(high, other_high)
    crossed = new_low > new_high
    if np.any(crossed):
        if np.any(new_low - new_high > 1e-9 * (1.0 + np.abs(new_low))):
            raise InfeasibleError(
                "no action sequence keeps the predicted states inside the workspace box and the state "
                f"constraints{where}"
            )
        new_low, new_high = np.where(crossed, low, new_low), np.where(crossed, high, new_high)
    return new_low, new_high


def propagate_intervals(
    network: FrozenNetwork,
    input_low: np.ndarray,
    input_high: np.ndarray,
    known: NetworkBounds | None = None,
) -> NetworkBounds:
    """Interval bounds of every layer for K input boxes (K, input_dim).

    If `known` bounds are given (for example tightened by LP), every layer's new bounds are
    intersected with them before being propagated further.
    """
    input_low = np.atleast_2d(np.asarray(input_low, dtype=np.float64))
    input_high = np.atleast_2d(np.asarray(input_high, dtype=np.float64))
    pre_low, pre_high = [], []
    low, high = input_low, input_high
    for index, layer in enumerate(network.layers[:-1]):
        z_low, z_high = _affine_interval(layer.weight, layer.bias, low, high)
        if known is not None:
            z_low, z_high = intersect(z_low, z_high, known.pre_low[index], known.pre_high[index])
        pre_low.append(z_low)
        pre_high.append(z_high)
        low = np.where(layer.relu, np.maximum(z_low, 0.0), z_low)
        high = np.where(layer.relu, np.maximum(z_high, 0.0), z_high)
    last = network.layers[-1]
    out_low, out_high = _affine_interval(last.weight, last.bias, low, high)
    skip_low, skip_high = _affine_interval(network.skip, np.zeros(network.output_dim), input_low, input_high)
    out_low, out_high = out_low + skip_low, out_high + skip_high
    if known is not None:
        out_low, out_high = intersect(out_low, out_high, known.output_low, known.output_high)
    return NetworkBounds(tuple(pre_low), tuple(pre_high), out_low, out_high)


@dataclass(frozen=True)
class RolloutBounds:
    """Bounds along a horizon: states (H + 1, n) and the network copy of every step (K = H)."""

    state_low: np.ndarray
    state_high: np.ndarray
    network: NetworkBounds

    @property
    def horizon(self) -> int:
        return self.network.copies


def rollout_step_bounds(
    network: FrozenNetwork,
    state_low: np.ndarray,
    state_high: np.ndarray,
    action_low: np.ndarray,
    action_high: np.ndarray,
    workspace_low: np.ndarray,
    workspace_high: np.ndarray,
    step: int,
    known: NetworkBounds | None = None,
) -> tuple[NetworkBounds, np.ndarray, np.ndarray]:
    """One step: network bounds for the input box [state box, action box], and the next state box.

    The next state box is the network's output box intersected with the workspace box; an empty
    intersection means no plan keeps the predicted state in the workspace.
    """
    bounds = propagate_intervals(
        network,
        np.concatenate([state_low, action_low])[None],
        np.concatenate([state_high, action_high])[None],
        known,
    )
    next_low, next_high = intersect(
        bounds.output_low[0], bounds.output_high[0], workspace_low, workspace_high, f" (at step {step + 1})"
    )
    return bounds, next_low, next_high


def workspace_box(n: int, low: np.ndarray | None, high: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """The workspace box, all of space where the problem gives none."""
    return (np.full(n, -np.inf), np.full(n, np.inf)) if low is None else (low, high)


def rollout_interval_bounds(
    network: FrozenNetwork,
    state: np.ndarray,
    action_low: np.ndarray,
    action_high: np.ndarray,
    horizon: int,
    workspace_low: np.ndarray | None = None,
    workspace_high: np.ndarray | None = None,
) -> RolloutBounds:
    """Interval bounds of a rollout from the fixed state x0 under any actions in the box."""
    workspace_low, workspace_high = workspace_box(network.output_dim, workspace_low, workspace_high)
    state_low, state_high = [np.asarray(state, dtype=np.float64)], [np.asarray(state, dtype=np.float64)]
    steps = []
    for step in range(horizon):
        bounds, low, high = rollout_step_bounds(
            network, state_low[-1], state_high[-1], action_low, action_high, workspace_low, workspace_high, step
        )
        steps.append(bounds)
        state_low.append(low)
        state_high.append(high)
    return RolloutBounds(np.stack(state_low), np.stack(state_high), stack_copies(steps))


def stack_copies(parts: list[NetworkBounds]) -> NetworkBounds:
    """Concatenate the copies of several NetworkBounds (same network)."""
    return NetworkBounds(
        tuple(np.concatenate(layer) for layer in zip(*(part.pre_low for part in parts))),
        tuple(np.concatenate(layer) for layer in zip(*(part.pre_high for part in parts))),
        np.concatenate([part.output_low for part in parts]),
        np.concatenate([part.output_high for part in parts]),
    )


Tightener = Callable[[int, int, RolloutBounds], tuple[np.ndarray, np.ndarray]]


def refine_rollout_bounds(
    network: FrozenNetwork, problem: PlanningProblem, bounds: RolloutBounds, tighteners: Sequence[Tightener]
) -> RolloutBounds:
    """Tighten rollout bounds in order: step by step, each hidden layer, then the next state.

    A tightener `tighten(step, layer, prefix)` returns (low, high) for the pre-activations of
    hidden layer `layer` at `step`, or for the next state x[step + 1] when layer ==
    len(network.layers) - 1, given the bounds known so far for steps 0..step (`prefix`). The
    tighteners run one after the other, each seeing the bounds the previous ones found (so a
    cheap one can spare an expensive one work), and before every layer the step's interval
    bounds are propagated again from the tightened ones: every improvement carries forward.
    """
    workspace_low, workspace_high = workspace_box(network.output_dim, problem.workspace_low, problem.workspace_high)
    state_low, state_high = bounds.state_low.copy(), bounds.state_high.copy()
    steps = [bounds.network.copy_range(step, step + 1) for step in range(bounds.horizon)]
    output_layer = len(network.layers) - 1

    def propagate(step: int) -> None:
        steps[step], next_low, next_high = rollout_step_bounds(
            network, state_low[step], state_high[step], problem.action_low, problem.action_high,
            workspace_low, workspace_high, step, known=steps[step],
        )  # fmt: skip
        state_low[step + 1], state_high[step + 1] = intersect(
            state_low[step + 1], state_high[step + 1], next_low, next_high
        )

    def prefix(step: int) -> RolloutBounds:
        return RolloutBounds(state_low[: step + 2], state_high[: step + 2], stack_copies(steps[: step + 1]))

    for step in range(bounds.horizon):
        for layer in range(output_layer + 1):
            propagate(step)
            for tighten in tighteners:
                low, high = tighten(step, layer, prefix(step))
                if layer == output_layer:
                    state_low[step + 1], state_high[step + 1] = intersect(
                        state_low[step + 1], state_high[step + 1], low, high
                    )
                else:
                    pre_low, pre_high = list(steps[step].pre_low), list(steps[step].pre_high)
                    pre_low[layer], pre_high[layer] = intersect(pre_low[layer], pre_high[layer], low, high)
                    steps[step] = dataclasses.replace(steps[step], pre_low=tuple(pre_low), pre_high=tuple(pre_high))
    return RolloutBounds(state_low, state_high, stack_copies(steps))
