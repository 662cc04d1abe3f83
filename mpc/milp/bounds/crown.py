"""Linear-relaxation bounds by back-substitution (CROWN; Zhang et al., "Efficient Neural Network
Robustness Certification with General Activation Functions", NeurIPS 2018).

Interval propagation forgets that the entries of a layer depend on the same inputs, so its
bounds loosen with every layer. Back-substitution keeps the dependence: a linear function of a
layer's pre-activations is rewritten layer by layer as a linear function of earlier variables,
replacing each ReLU y = max(0, z) with l <= z <= u by linear bounds

    y <= u (z - l) / (u - l)          (the chord, used where the coefficient is negative)
    y >= z  if u >= -l,  else y >= 0  (used where the coefficient is non-negative)

until only the inputs are left, whose box then bounds it. `back_substitute` does this for K
network copies at once; it serves two uses:

- `linear_copy_bounds`: every neuron of K copies bounded over each copy's own input box (a graph
  model's edge and node networks in "linear" mode, mpc.milp.kinds);
- `linear_tightener`: every neuron and next state of an MLP over the unrolled horizon, going
  back step by step to the fixed start state; at every step boundary the linear function can
  also be bounded with that step's state box (which holds the workspace clip and any earlier
  tightening), and the best of these bounds is kept.

Everything is a few dense matrix products per layer and step, far cheaper than one LP per neuron.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dynamics.frozen import FrozenNetwork
from mpc.milp.bounds.boxes import NetworkBounds, RolloutBounds, Tightener, intersect
from mpc.milp.bounds.interval import propagate_intervals
from mpc.problem import PlanningProblem


@dataclass(frozen=True)
class ReluRelaxation:
    """Linear bounds of one hidden layer's activations y = act(z) of K copies, from l <= z <= u.

    Identity neurons and ReLUs that are always on have y = z (both slopes 1), ReLUs that are
    always off y = 0 (both slopes 0); a switching ReLU has the two bounds of the module docstring.

    Shapes:
        every field: (K, 1, width), ready to broadcast against coefficients (K, rows, width).
    """

    lower: np.ndarray  # y >= lower * z
    upper: np.ndarray  # y <= upper * (z - low) on switching ReLUs, y <= upper * z elsewhere
    switching: np.ndarray
    low: np.ndarray

    @staticmethod
    def of(relu: np.ndarray, low: np.ndarray, high: np.ndarray) -> ReluRelaxation:
        """The relaxation of a layer with ReLU mask relu (width,) and pre-activation bounds low, high (K, width)."""
        switching = relu & (low < 0) & (high > 0)
        off = relu & (high <= 0)
        upper = np.where(switching, high / np.where(switching, high - low, 1.0), np.where(off, 0.0, 1.0))
        lower = np.where(switching, (high >= -low).astype(np.float64), np.where(off, 0.0, 1.0))
        return ReluRelaxation(lower[:, None], upper[:, None], switching[:, None], low[:, None])

    def substitute(self, coefficients: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A lower bound of coefficients @ y as coefficients' @ z + constant.

        Shapes:
            coefficients: (K, rows, width) -> coefficients' (K, rows, width), constant (K, rows).
        """
        negative = coefficients < 0
        constant = np.where(negative & self.switching, -coefficients * self.upper * self.low, 0.0).sum(axis=-1)
        return coefficients * np.where(negative, self.upper, self.lower), constant


def relaxations(network: FrozenNetwork, bounds: NetworkBounds) -> list[ReluRelaxation]:
    """The relaxation of every hidden layer of K copies with the given bounds."""
    return [
        ReluRelaxation.of(layer.relu, low, high)
        for layer, low, high in zip(network.layers[:-1], bounds.pre_low, bounds.pre_high)
    ]


def back_substitute(
    network: FrozenNetwork, relaxed: list[ReluRelaxation], coefficients: np.ndarray, layer: int
) -> tuple[np.ndarray, np.ndarray]:
    """Rewrite lower bounds of linear functions of layer `layer`'s pre-activations as functions of the input.

    Args:
        network: the frozen network; its skip matrix is left to the caller.
        relaxed: the relaxation of (at least) hidden layers 0..layer-1 of every copy.
        coefficients: the linear functions, on hidden layer `layer`'s pre-activations, or on the
            output layer's affine part if layer == len(network.layers) - 1.
        layer: the layer the coefficients refer to.

    Returns:
        (coefficients on the copy's input, constant): coefficients @ z >= that @ input + constant.

    Shapes:
        coefficients: (K, rows, width of layer) -> (K, rows, input_dim) and constant (K, rows).
    """
    constant = np.zeros(coefficients.shape[:-1])
    for index in range(layer, -1, -1):
        current = network.layers[index]
        constant = constant + coefficients @ current.bias
        coefficients = coefficients @ current.weight
        if index > 0:
            coefficients, extra = relaxed[index - 1].substitute(coefficients)
            constant = constant + extra
    return coefficients, constant


def lower_over_box(coefficients: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Minimum of each row of coefficients @ v over the box low <= v <= high, per copy.

    Shapes:
        coefficients: (K, rows, d); low, high: (K, d) -> (K, rows).
    """
    return (np.maximum(coefficients, 0.0) @ low[..., None])[..., 0] + (np.minimum(coefficients, 0.0) @ high[..., None])[
        ..., 0
    ]


def linear_copy_bounds(
    network: FrozenNetwork, input_low: np.ndarray, input_high: np.ndarray, known: NetworkBounds | None = None
) -> NetworkBounds:
    """Bounds of every neuron of K network copies over each copy's input box, by back-substitution.

    Interval bounds (`propagate_intervals`, intersected with `known` if given) are tightened layer
    by layer: every neuron's pre-activation (and every output) is bounded by back-substitution to
    the copy's input box, each layer's relaxation using the tightest bounds found before it.

    Args:
        network: the frozen network (its skip matrix included in the output).
        input_low, input_high: the input box of every copy.
        known: bounds already known for these copies.

    Shapes:
        input_low, input_high: (K, input_dim).

    Raises:
        InfeasibleError: the propagated bounds and `known` do not meet.
    """
    interval = propagate_intervals(network, input_low, input_high, known)
    copies, last = input_low.shape[0], len(network.layers) - 1
    pre_low, pre_high = list(interval.pre_low), list(interval.pre_high)
    relaxed = []
    for target in range(last + 1):
        width = network.layers[target].out_dim
        signs = np.vstack([np.eye(width), -np.eye(width)])  # lower bounds of +z and of -z
        coefficients, constant = back_substitute(
            network, relaxed, np.broadcast_to(signs, (copies, 2 * width, width)), target
        )
        if target == last:
            coefficients = coefficients + signs @ network.skip
        bound = constant + lower_over_box(coefficients, input_low, input_high)
        low, high = bound[:, :width], -bound[:, width:]
        if target == last:
            out_low, out_high = intersect(interval.output_low, interval.output_high, low, high)
        else:
            pre_low[target], pre_high[target] = intersect(pre_low[target], pre_high[target], low, high)
            relaxed.append(ReluRelaxation.of(network.layers[target].relu, pre_low[target], pre_high[target]))
    return NetworkBounds(tuple(pre_low), tuple(pre_high), out_low, out_high)


def _horizon_lower_bounds(
    network: FrozenNetwork,
    prefix: RolloutBounds,
    action_low: np.ndarray,
    action_high: np.ndarray,
    layer: int | None,
    coefficients: np.ndarray,
) -> np.ndarray:
    """Lower bounds of coefficients @ (hidden layer `layer`'s pre-activations, or the next state if
    layer is None) at the last step of `prefix`, the best over every step boundary back to the start."""
    n, output_layer = network.output_dim, len(network.layers) - 1
    coefficients = coefficients[None]  # one network copy per step
    on_state = coefficients if layer is None else None
    constant = np.zeros(coefficients.shape[:-1])
    best = np.full(coefficients.shape[:-1], -np.inf)
    for current in range(prefix.horizon - 1, -1, -1):
        relaxed = relaxations(network, prefix.network.copy_range(current, current + 1))
        if on_state is not None:  # coefficients on x[current + 1]: the network output plus the skip
            on_input, extra = back_substitute(network, relaxed, on_state, output_layer)
            on_input = on_input + on_state @ network.skip
        else:
            on_input, extra = back_substitute(network, relaxed, coefficients, layer)
        constant = constant + extra + lower_over_box(on_input[..., n:], action_low[None], action_high[None])
        on_state = on_input[..., :n]
        bound = constant + lower_over_box(on_state, prefix.state_low[current][None], prefix.state_high[current][None])
        best = np.maximum(best, bound)
    return best[0]


def linear_tightener(network: FrozenNetwork, problem: PlanningProblem) -> Tightener:
    """Back-substitution through the unrolled horizon of an MLP, as a tightener for `rollout_bounds`.

    Bounds every neuron of a hidden layer, or every entry of the next state, at the last step of
    the bounds known so far (steps 0..step), going back through every earlier step to the start.

    Args:
        network: the frozen MLP dynamics network ([state, action] -> next state).
        problem: the planning problem (its action box bounds the actions of every step).
    """

    def tighten(step: int, layer: int | None, prefix: RolloutBounds) -> tuple[np.ndarray, np.ndarray]:
        width = network.output_dim if layer is None else network.layers[layer].out_dim
        identity = np.eye(width)
        lower = _horizon_lower_bounds(
            network, prefix, problem.action_low, problem.action_high, layer, np.vstack([identity, -identity])
        )
        return lower[:width], -lower[width:]

    return tighten
