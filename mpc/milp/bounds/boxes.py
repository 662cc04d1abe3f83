"""What every bound method produces: boxes on the neurons of network copies and on the states of a rollout.

The big-M encoding needs, for every ReLU, bounds l <= z <= u on its pre-activation z: a neuron
with u <= 0 is always off and l >= 0 always on, and neither needs a binary. A model applied over
a horizon is K copies of its network(s): an MLP one copy per step (`NetworkBounds`), a graph
model one edge-network copy per edge and one node-network copy per node per step
(`GraphBounds`). `RolloutBounds` adds the state box of every step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from dynamics.frozen import FrozenGraph, FrozenNetwork
from mpc.errors import InfeasibleError


@dataclass(frozen=True)
class NetworkBounds:
    """Bounds for K copies of a network: per hidden layer the pre-activations, then the output.

    Shapes:
        pre_low[k], pre_high[k]: (K, width of hidden layer k); output_low, output_high: (K, output_dim).
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
        """Binaries the encoding of these copies needs: one per ReLU that can switch."""
        return int(sum(mask.sum() for mask in self.unstable(network)))

    def copy_range(self, start: int, stop: int) -> NetworkBounds:
        """The bounds of copies start..stop-1."""
        return NetworkBounds(
            tuple(low[start:stop] for low in self.pre_low),
            tuple(high[start:stop] for high in self.pre_high),
            self.output_low[start:stop],
            self.output_high[start:stop],
        )

    def with_layer_bounds(self, layer: int, low: np.ndarray, high: np.ndarray) -> NetworkBounds:
        """These bounds with hidden layer `layer`'s intersected with low, high (broadcast to (K, width))."""
        pre_low, pre_high = list(self.pre_low), list(self.pre_high)
        pre_low[layer], pre_high[layer] = intersect(pre_low[layer], pre_high[layer], low, high)
        return replace(self, pre_low=tuple(pre_low), pre_high=tuple(pre_high))

    @staticmethod
    def concatenate(parts: list[NetworkBounds]) -> NetworkBounds:
        """The copies of several NetworkBounds of the same network, in order."""
        return NetworkBounds(
            tuple(np.concatenate(layer) for layer in zip(*(part.pre_low for part in parts))),
            tuple(np.concatenate(layer) for layer in zip(*(part.pre_high for part in parts))),
            np.concatenate([part.output_low for part in parts]),
            np.concatenate([part.output_high for part in parts]),
        )


@dataclass(frozen=True)
class GraphBounds:
    """Bounds of K applications of a graph model: its edge-network copies (K x edges, step-major)
    and node-network copies (K x nodes, step-major)."""

    edge: NetworkBounds
    node: NetworkBounds
    copies: int  # graph applications: one per step

    def binary_count(self, graph: FrozenGraph) -> int:
        """Binaries the encoding of these applications needs: one per edge and node ReLU that can switch."""
        return self.edge.binary_count(graph.edge) + self.node.binary_count(graph.node)

    @staticmethod
    def concatenate(parts: list[GraphBounds]) -> GraphBounds:
        """The applications of several GraphBounds of the same graph, in order."""
        return GraphBounds(
            NetworkBounds.concatenate([part.edge for part in parts]),
            NetworkBounds.concatenate([part.node for part in parts]),
            sum(part.copies for part in parts),
        )


@dataclass(frozen=True)
class RolloutBounds:
    """Bounds along a horizon H: the states and the model's copies of every step.

    Shapes:
        state_low, state_high: (H + 1, n), the fixed start state first; network: one copy (an MLP)
        or one graph application (a graph model) per step.
    """

    state_low: np.ndarray
    state_high: np.ndarray
    network: NetworkBounds | GraphBounds

    @property
    def horizon(self) -> int:
        return self.network.copies


Tightener = Callable[[int, "int | None", RolloutBounds], tuple[np.ndarray, np.ndarray]]
"""tighten(step, layer, prefix) -> (low, high): bounds on the pre-activations of hidden layer `layer` at
`step`, or on the next state x[step + 1] where layer is None, given the bounds of steps 0..step (`prefix`);
-inf / inf where it finds none. Used by `mpc.milp.bounds.rollout.rollout_bounds`."""


def intersect(
    low: np.ndarray, high: np.ndarray, other_low: np.ndarray, other_high: np.ndarray, where: str = ""
) -> tuple[np.ndarray, np.ndarray]:
    """Intersection of two boxes that both hold every feasible point.

    Rounding can make the bounds of a quantity that is exactly determined cross by a hair; there
    the first box is kept.

    Raises:
        InfeasibleError: the boxes really cross (no feasible point at all); `where` ends the message.
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


def workspace_box(n: int, low: np.ndarray | None, high: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """The workspace box, all of space where the problem gives none."""
    return (np.full(n, -np.inf), np.full(n, np.inf)) if low is None else (low, high)
