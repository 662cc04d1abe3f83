"""Linear-relaxation bounds by back-substitution (CROWN) through the unrolled horizon.

Interval propagation forgets that the entries of a layer depend on the same inputs, so its
bounds loosen with every layer and every step. Back-substitution keeps the dependence: a
neuron's pre-activation at step t is written as a linear function of earlier variables, layer
by layer and step by step back to the fixed start state, replacing each ReLU by linear bounds
(y <= u (z - l) / (u - l) above; y >= z or y >= 0 below, whichever is closer). At every step
boundary the linear function can also be bounded with that step's state box (which holds the
workspace clip and any earlier tightening); the best of these bounds is kept. Everything is a
few dense matrix products per layer and step, far cheaper than one LP per neuron.
"""

from __future__ import annotations

import numpy as np

from dynamics.frozen import FrozenNetwork
from mpc.milp.bounds.interval import NetworkBounds, RolloutBounds, Tightener
from mpc.problem import PlanningProblem


def _lower_over_box(coefficients: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Minimum of each row of coefficients @ v over the box low <= v <= high."""
    return np.maximum(coefficients, 0.0) @ low + np.minimum(coefficients, 0.0) @ high


def _through_activation(
    coefficients: np.ndarray, relu: np.ndarray, low: np.ndarray, high: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Rewrite a lower bound of coefficients @ y, y = act(z), as coefficients' @ z + constant."""
    off = relu & (high <= 0)
    switching = relu & (low < 0) & (high > 0)
    span = np.where(switching, high - low, 1.0)
    upper_slope = np.where(switching, high / span, 1.0)  # y <= upper_slope * (z - low)
    lower_slope = np.where(switching, (high >= -low).astype(np.float64), 1.0)  # y >= lower_slope * z
    positive = coefficients >= 0
    slope = np.where(positive, lower_slope, upper_slope)
    slope = np.where(off, 0.0, slope)
    constant = np.where(~positive & switching, -coefficients * upper_slope * low, 0.0).sum(axis=1)
    return coefficients * slope, constant


def _back_through_layers(
    network: FrozenNetwork, bounds: NetworkBounds, coefficients: np.ndarray, layer: int
) -> tuple[np.ndarray, np.ndarray]:
    """From coefficients on layer `layer`'s pre-activation (len(layers) - 1: the output layer's
    affine part) of one network copy, back to coefficients on the copy's input, plus a constant."""
    constant = np.zeros(coefficients.shape[0])
    for index in range(layer, -1, -1):
        current = network.layers[index]
        constant += coefficients @ current.bias
        coefficients = coefficients @ current.weight
        if index > 0:
            previous = network.layers[index - 1]
            coefficients, extra = _through_activation(
                coefficients, previous.relu, bounds.pre_low[index - 1][0], bounds.pre_high[index - 1][0]
            )
            constant += extra
    return coefficients, constant


def _lower_bounds(
    network: FrozenNetwork,
    steps: list[NetworkBounds],
    state_low: np.ndarray,
    state_high: np.ndarray,
    action_low: np.ndarray,
    action_high: np.ndarray,
    step: int,
    layer: int,
    coefficients: np.ndarray,
) -> np.ndarray:
    """Lower bounds of coefficients @ (pre-activation of `layer` at `step`), the best over every step boundary.

    layer == len(network.layers) - 1 means the next state x[step + 1] itself (output plus skip).
    """
    n = network.output_dim
    output_layer = len(network.layers) - 1
    on_state = coefficients if layer == output_layer else None
    constant = np.zeros(coefficients.shape[0])
    best = np.full(coefficients.shape[0], -np.inf)
    for current in range(step, -1, -1):
        if on_state is not None:  # coefficients on x[current + 1]: the network output plus the skip
            on_input, extra = _back_through_layers(network, steps[current], on_state, output_layer)
            on_input = on_input + on_state @ network.skip
        else:
            on_input, extra = _back_through_layers(network, steps[current], coefficients, layer)
        constant = constant + extra + _lower_over_box(on_input[:, n:], action_low, action_high)
        on_state = on_input[:, :n]
        bound = constant + _lower_over_box(on_state, state_low[current], state_high[current])
        best = np.maximum(best, bound)
    return best


def linear_tightener(network: FrozenNetwork, problem: PlanningProblem) -> Tightener:
    """Back-substitution bounds for `refine_rollout_bounds`: every neuron of a layer, or every state entry."""

    def tighten(step: int, layer: int, prefix: RolloutBounds) -> tuple[np.ndarray, np.ndarray]:
        identity = np.eye(network.layers[layer].out_dim)
        steps = [prefix.network.copy_range(current, current + 1) for current in range(step + 1)]
        lower = _lower_bounds(
            network, steps, prefix.state_low, prefix.state_high, problem.action_low, problem.action_high,
            step, layer, np.vstack([identity, -identity]),
        )  # fmt: skip
        return lower[: len(identity)], -lower[len(identity) :]

    return tighten
