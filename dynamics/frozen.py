"""Frozen piecewise-linear networks: the seam between the dynamics models and the MILP encoder.

A frozen network is plain numpy arrays, no torch. Each layer is an affine map followed, per
neuron, by either a ReLU or nothing (identity); removed neurons are simply absent. The last
layer is purely affine. A residual connection is explicit as a `skip` matrix:

    h_0 = input
    h_k = act_k(W_k h_{k-1} + b_k)          act = ReLU where relu[k][i], else identity
    output = h_L + skip @ input

For an MLP dynamics model the input is [state, action] and the output is the next state, with
normalisation folded into the first and last affine maps. A graph model freezes to a
`FrozenGraph`: one frozen network per learned function (edge, node) plus the graph they run on.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np


@dataclass(frozen=True)
class FrozenLayer:
    """One affine map plus a per-neuron choice of ReLU (True) or identity (False).

    Shapes:
        weight (out, in), bias (out,), relu (out,) bool; forward: (..., in) -> (..., out).

    Raises:
        ValueError: arrays of inconsistent shapes.
    """

    weight: np.ndarray  # (out, in)
    bias: np.ndarray  # (out,)
    relu: np.ndarray  # (out,) bool

    def __post_init__(self) -> None:
        out_dim = self.weight.shape[0]
        if self.weight.ndim != 2 or self.bias.shape != (out_dim,) or self.relu.shape != (out_dim,):
            raise ValueError("a frozen layer needs weight (out, in), bias (out,) and relu (out,)")

    @property
    def in_dim(self) -> int:
        return self.weight.shape[1]

    @property
    def out_dim(self) -> int:
        return self.weight.shape[0]

    def forward(self, inputs: np.ndarray) -> np.ndarray:
        pre = inputs @ self.weight.T + self.bias
        return np.where(self.relu, np.maximum(pre, 0.0), pre)


@dataclass(frozen=True)
class FrozenNetwork:
    """A stack of frozen layers with an explicit residual `skip` matrix (output, input).

    `data_ranges`, optional: per hidden layer (every layer but the last), the smallest and largest
    pre-activation each neuron took on the model's data (`dynamics.ranges`); not bounds of the
    network, only what the data showed. Whoever rescales neurons (`mpc.milp.numerics.balanced`) must
    rescale them too.

    Shapes:
        skip (output_dim, input_dim); forward: (..., input_dim) -> (..., output_dim), float64;
        data_ranges[k] = (low, high), each (width of hidden layer k,).

    Raises:
        ValueError: no layers, consecutive layers that do not fit, a ReLU in the output layer, a skip
            matrix of another shape, or data ranges that do not fit the hidden layers.
    """

    layers: tuple[FrozenLayer, ...]
    skip: np.ndarray
    data_ranges: tuple[tuple[np.ndarray, np.ndarray], ...] | None = None

    def __post_init__(self) -> None:
        if not self.layers:
            raise ValueError("a frozen network needs at least one layer")
        for previous, layer in zip(self.layers, self.layers[1:]):
            if layer.in_dim != previous.out_dim:
                raise ValueError("consecutive frozen layers do not fit together")
        if self.layers[-1].relu.any():
            raise ValueError("the output layer of a frozen network must be affine")
        if self.skip.shape != (self.output_dim, self.input_dim):
            raise ValueError("skip must be (output_dim, input_dim)")
        if self.data_ranges is not None and (
            len(self.data_ranges) != len(self.layers) - 1
            or any(
                np.shape(low) != (layer.out_dim,) or np.shape(high) != (layer.out_dim,)
                for (low, high), layer in zip(self.data_ranges, self.layers)
            )
        ):
            raise ValueError("data_ranges must hold (low, high) of every neuron of every hidden layer")

    @property
    def input_dim(self) -> int:
        return self.layers[0].in_dim

    @property
    def output_dim(self) -> int:
        return self.layers[-1].out_dim

    @property
    def relu_count(self) -> int:
        return int(sum(layer.relu.sum() for layer in self.layers))

    def pre_activations(self, inputs: np.ndarray) -> list[np.ndarray]:
        """Every hidden layer's pre-activations (W_k h_{k-1} + b_k) on a batch, in float64.

        Shapes:
            inputs (..., input_dim) -> [(..., width of hidden layer k) for every hidden layer k].
        """
        hidden = np.asarray(inputs, dtype=np.float64)
        found = []
        for layer in self.layers[:-1]:
            pre = hidden @ layer.weight.T + layer.bias
            found.append(pre)
            hidden = np.where(layer.relu, np.maximum(pre, 0.0), pre)
        return found

    def forward(self, inputs: np.ndarray) -> np.ndarray:
        """Evaluate on a batch (..., input_dim) in float64."""
        inputs = np.asarray(inputs, dtype=np.float64)
        hidden = inputs
        for layer in self.layers:
            hidden = layer.forward(hidden)
        return hidden + inputs @ self.skip.T


POSITION_DIM = 2  # every node of a graph model is a point in the plane

# The interaction graphs a graph model can run on, by name: which nodes send messages to which (node 0 the pusher,
# 1..N the objects). The pusher is moved by the action and receives nothing in either. "all_pairs" suits objects
# that may touch any other (discs); "chain" a rope, whose particles interact only with their neighbours along it
# (joints; the rope does not collide with itself) and with the pusher.
EDGE_SETS = {
    "all_pairs": "every ordered pair with an object receiver: pusher -> object and object -> object, N * N edges",
    "chain": "pusher -> every object, and each object -> its neighbours along the chain (object i -> i - 1, i + 1), "
    "3 N - 2 edges",
}


def check_edge_set(edge_set: str) -> None:
    """ValueError unless `edge_set` is a name of EDGE_SETS."""
    if edge_set not in EDGE_SETS:
        raise ValueError(f"unknown edge set {edge_set!r}; choose one of {', '.join(EDGE_SETS)}")


@lru_cache(maxsize=64)
def graph_edges(num_objects: int, edge_set: str = "all_pairs") -> tuple[np.ndarray, np.ndarray]:
    """The interaction graph of a graph model: (senders, receivers), node 0 the pusher, 1..N the objects.

    Args:
        num_objects: N.
        edge_set: a name of EDGE_SETS.

    Returns:
        (senders, receivers), read-only int arrays of one entry per edge, ordered by receiver, then sender
        (cached: the MILP's assembly asks for them hundreds of times).

    Raises:
        ValueError: an unknown edge set.
    """
    check_edge_set(edge_set)
    nodes = np.arange(num_objects + 1)
    receivers = np.repeat(nodes[1:], num_objects + 1)
    senders = np.tile(nodes, num_objects)
    keep = senders != receivers
    if edge_set == "chain":
        keep &= (senders == 0) | (np.abs(senders - receivers) == 1)
    senders, receivers = senders[keep], receivers[keep]
    senders.flags.writeable = receivers.flags.writeable = False
    return senders, receivers


@dataclass(frozen=True)
class FrozenGraph:
    """A graph dynamics model frozen for N objects: an edge network, a node network and the graph they run on.

    The state is [pusher_x, pusher_y, obj1_x, obj1_y, ..., objN_x, objN_y] (node positions p_i,
    node 0 the pusher), the action u acts on the pusher. Every node has a control input
    c_i = [1, u] for the pusher and [0, 0...] for an object. One step:

        message_e  = edge([p_sender - p_receiver, c_sender])    for every edge e of graph_edges(N, edge_set)
        summed_i   = sum of message_e over the edges e received by node i  (0 for the pusher)
        p_i'       = node([p_i, c_i, summed_i])                        for every node i

    Both are frozen networks; the node network's skip carries p_i, so it outputs the next position
    directly. Normalisation is folded in: both take raw positions (cm) and actions. `edge_set` names the
    graph (EDGE_SETS); `edges` holds it for N objects.

    Shapes:
        forward: [state, action] (..., 2 (N + 1) + action_dim) -> next state (..., 2 (N + 1)), float64.

    Raises:
        ValueError: edge and node networks whose widths do not fit each other and `action_dim`, or an unknown
            edge set.
    """

    edge: FrozenNetwork  # (POSITION_DIM + 1 + action_dim) -> message_dim
    node: FrozenNetwork  # (POSITION_DIM + 1 + action_dim + message_dim) -> POSITION_DIM
    num_objects: int
    action_dim: int
    edge_set: str = "all_pairs"  # a name of EDGE_SETS

    def __post_init__(self) -> None:
        control_dim = 1 + self.action_dim
        if self.edge.input_dim != POSITION_DIM + control_dim:
            raise ValueError("the edge network must read a relative position and the sender's control input")
        if self.node.input_dim != POSITION_DIM + control_dim + self.message_dim or self.node.output_dim != POSITION_DIM:
            raise ValueError(
                "the node network must read position, control input and summed messages, and give a position"
            )
        check_edge_set(self.edge_set)

    @property
    def message_dim(self) -> int:
        return self.edge.output_dim

    @property
    def num_nodes(self) -> int:
        return self.num_objects + 1

    @property
    def state_dim(self) -> int:
        return POSITION_DIM * self.num_nodes

    @property
    def input_dim(self) -> int:
        """[state, action], as for a frozen MLP dynamics network."""
        return self.state_dim + self.action_dim

    @property
    def output_dim(self) -> int:
        return self.state_dim

    @property
    def edges(self) -> tuple[np.ndarray, np.ndarray]:
        """(senders, receivers) of every edge, `graph_edges(num_objects, edge_set)`."""
        return graph_edges(self.num_objects, self.edge_set)

    @property
    def relu_count(self) -> int:
        """ReLUs of one application of each network (not per edge or node)."""
        return self.edge.relu_count + self.node.relu_count

    def with_objects(self, num_objects: int) -> FrozenGraph:
        """The same learned functions on a graph of the same edge set and another size."""
        return FrozenGraph(self.edge, self.node, num_objects, self.action_dim, self.edge_set)

    def split(self, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Node positions (..., num_nodes, 2) and control inputs (..., num_nodes, 1 + action_dim)
        from [state, action] (..., input_dim)."""
        inputs = np.asarray(inputs, dtype=np.float64)
        positions = inputs[..., : self.state_dim].reshape(inputs.shape[:-1] + (self.num_nodes, POSITION_DIM))
        controls = np.zeros(inputs.shape[:-1] + (self.num_nodes, 1 + self.action_dim))
        controls[..., 0, 0] = 1.0
        controls[..., 0, 1:] = inputs[..., self.state_dim :]
        return positions, controls

    def edge_inputs(self, positions: np.ndarray, controls: np.ndarray) -> np.ndarray:
        """[p_sender - p_receiver, c_sender] of every edge: (..., num_edges, edge input_dim)."""
        senders, receivers = self.edges
        return np.concatenate(
            [positions[..., senders, :] - positions[..., receivers, :], controls[..., senders, :]], axis=-1
        )

    def sum_messages(self, messages: np.ndarray) -> np.ndarray:
        """Messages (..., num_edges, message_dim) summed per receiving node: (..., num_nodes, message_dim)."""
        summed = np.zeros(messages.shape[:-2] + (self.num_nodes, self.message_dim))
        np.add.at(summed, (..., self.edges[1], slice(None)), messages)
        return summed

    def node_inputs(self, positions: np.ndarray, controls: np.ndarray, summed: np.ndarray) -> np.ndarray:
        """[p_i, c_i, summed_i] of every node: (..., num_nodes, node input_dim)."""
        return np.concatenate([positions, controls, summed], axis=-1)

    def forward(self, inputs: np.ndarray) -> np.ndarray:
        """Next states (..., state_dim) from [state, action] (..., input_dim), in float64."""
        positions, controls = self.split(inputs)
        messages = self.edge.forward(self.edge_inputs(positions, controls))
        following = self.node.forward(self.node_inputs(positions, controls, self.sum_messages(messages)))
        return following.reshape(following.shape[:-2] + (self.state_dim,))


def rollout(network: FrozenNetwork | FrozenGraph, state: np.ndarray, actions: np.ndarray) -> np.ndarray:
    """Open-loop rollout of a frozen network or graph in float64: the one numpy rollout of the project.

    Args:
        network: a frozen dynamics network or graph, from [state, action] to the next state.
        state: the start state, shared by the batch or one per sequence.
        actions: action sequences of H steps.

    Shapes:
        state (n,) or (..., n); actions (..., H, m) -> states (..., H + 1, n), the start state first.
    """
    state = np.asarray(state, dtype=np.float64)
    states = [np.broadcast_to(state, actions.shape[:-2] + state.shape[-1:])]
    for step in range(actions.shape[-2]):
        states.append(network.forward(np.concatenate([states[-1], actions[..., step, :]], axis=-1)))
    return np.stack(states, axis=-2)
