"""Interval propagation: bounds on every neuron of K network copies from boxes on their inputs.

Each affine map sends a box to the smallest box holding its image (positive weights take the
lower input bound to the lower output bound, negative weights the upper one), and a ReLU clips
the box at zero. This is the cheapest bound method: a few small matrix products per layer for
any number of copies. It forgets that the entries of a layer depend on the same inputs, so its
boxes loosen with every layer; back-substitution (mpc.milp.bounds.crown) and LP tightening
(mpc.milp.bounds.lp) improve on it.
"""

from __future__ import annotations

import numpy as np

from dynamics.frozen import FrozenNetwork
from mpc.milp.bounds.boxes import NetworkBounds, intersect


def _affine_interval(
    weight: np.ndarray, bias: np.ndarray, low: np.ndarray, high: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Exact bounds of weight @ h + bias over the boxes low <= h <= high (batched rows)."""
    positive, negative = np.maximum(weight, 0.0), np.minimum(weight, 0.0)
    return (
        low @ positive.T + high @ negative.T + bias,
        high @ positive.T + low @ negative.T + bias,
    )


def propagate_intervals(
    network: FrozenNetwork,
    input_low: np.ndarray,
    input_high: np.ndarray,
    known: NetworkBounds | None = None,
) -> NetworkBounds:
    """Interval bounds of every layer of K network copies, one input box per copy.

    Args:
        network: the frozen network (its skip matrix included in the output).
        input_low, input_high: the input box of every copy.
        known: bounds already known for these copies (for example tightened by LP); every layer's
            new bounds are intersected with them before being propagated further.

    Shapes:
        input_low, input_high: (K, input_dim) (a single box (input_dim,) is one copy).

    Raises:
        InfeasibleError: the propagated bounds and `known` do not meet.
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
