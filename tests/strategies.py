"""Random small sparse frozen networks for the MILP tests (hypothesis strategy).

A network is drawn as a dense MLP whose hidden neurons are each ReLU, identity or zero, then
exported the way the dynamics package does it: zero neurons are deleted (rows of their layer,
columns of the next) and the residual state connection becomes the skip matrix.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from dynamics.frozen import FrozenLayer, FrozenNetwork

ZERO, IDENTITY, RELU = 0, 1, 2


def random_network(
    rng: np.random.Generator, state_dim: int, action_dim: int, kinds: list[np.ndarray], residual: bool = True
) -> FrozenNetwork:
    """A frozen network from [state, action] to next state with the given hidden neuron kinds."""
    widths = [state_dim + action_dim, *(len(layer) for layer in kinds), state_dim]
    weights = [rng.normal(size=(out, inp)) / np.sqrt(max(inp, 1)) for inp, out in zip(widths, widths[1:])]
    biases = [rng.normal(scale=0.5, size=out) for out in widths[1:]]
    layers, kept_inputs = [], np.ones(widths[0], dtype=bool)
    for weight, bias, layer_kinds in zip(weights, biases, kinds):
        kept = layer_kinds != ZERO
        layers.append(FrozenLayer(weight[kept][:, kept_inputs], bias[kept], layer_kinds[kept] == RELU))
        kept_inputs = kept
    layers.append(FrozenLayer(weights[-1][:, kept_inputs], biases[-1], np.zeros(state_dim, dtype=bool)))
    skip = (
        np.hstack([np.eye(state_dim), np.zeros((state_dim, action_dim))])
        if residual
        else np.zeros((state_dim, state_dim + action_dim))
    )
    return FrozenNetwork(tuple(layers), skip)


@st.composite
def sparse_networks(draw, max_state_dim: int = 3, max_action_dim: int = 2, max_width: int = 6, max_layers: int = 2):
    """(network, state_dim, action_dim, rng) with ReLU, identity and deleted neurons."""
    state_dim = draw(st.integers(1, max_state_dim))
    action_dim = draw(st.integers(1, max_action_dim))
    widths = draw(st.lists(st.integers(0, max_width), min_size=1, max_size=max_layers))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kinds = [rng.choice([ZERO, IDENTITY, RELU], size=width, p=[0.2, 0.2, 0.6]) for width in widths]
    network = random_network(rng, state_dim, action_dim, kinds, residual=draw(st.booleans()))
    return network, state_dim, action_dim, rng
