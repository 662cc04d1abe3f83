"""Graph dynamics model (torch-geometric): one edge function and one node function shared by all objects.

Node 0 is the pusher, nodes 1..N the objects; the edges (`dynamics.frozen.graph_edges`) are those of the
model's edge set: all ordered pairs with an object receiver ("all_pairs", e.g. sorting discs) or the pusher
to every object plus neighbours along a chain ("chain", a rope's particles). For the state
[pusher_x, pusher_y, obj1_x, obj1_y, ...] and the action u, every node has a position p_i and a control input
c_i = [1, u] (pusher) or 0 (object):

    message_e = edge([p_sender - p_receiver, c_sender])      for every edge e
    summed_i  = sum of the messages node i receives         (0 for the pusher)
    p_i'      = p_i + node([p_i, c_i, summed_i])            (both functions on standardised inputs)

Both functions are GatedMLPs, so `dynamics.sparsify` sparsifies them under one ReLU budget. N is read
from the state width, so a model trained with N objects runs on any number of objects (on the same edge set).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache

import numpy as np
import torch
from torch_geometric.nn import MessagePassing

from dynamics.data import standardisation
from dynamics.errors import DataError, ModelConfigError
from dynamics.frozen import EDGE_SETS, POSITION_DIM, FrozenGraph, check_edge_set, graph_edges
from dynamics.gates import GatedMLP, count_kinds
from dynamics.mlp import fold_normalisation
from dynamics.ranges import DataRanges, attach_ranges

NODE_NAMES = ("obj", "particle")  # state entries {name}{i}_x, {name}{i}_y a graph model reads as node positions


@lru_cache(maxsize=32)
def batched_edge_index(
    batch: int, num_objects: int, edge_set: str = "all_pairs", device: torch.device | None = None
) -> torch.Tensor:
    """edge_index (2, batch * E) of `batch` disjoint copies of the E edges of graph_edges(N, edge_set), graph b on
    nodes b (N+1) ..., on `device` (None: the CPU).

    Rows are [senders, receivers] (torch-geometric's source_to_target flow). Cached: the planners
    call the model many times with the same batch size, N and device; the tensor is never modified.
    """
    senders, receivers = graph_edges(num_objects, edge_set)
    offsets = (np.arange(batch) * (num_objects + 1))[:, None]
    return torch.as_tensor(np.stack([(senders + offsets).ravel(), (receivers + offsets).ravel()]), device=device)


def object_count(state_layout: Sequence[str]) -> int:
    """N of a state layout [pusher_x, pusher_y, obj0_x, obj0_y, ...] (or particle0_x, ...: NODE_NAMES); DataError
    for any other state."""
    num_objects = len(state_layout) // 2 - 1
    layouts = [
        ["pusher_x", "pusher_y"] + [f"{name}{i}_{axis}" for i in range(num_objects) for axis in ("x", "y")]
        for name in NODE_NAMES
    ]
    if num_objects < 1 or list(state_layout) not in layouts:
        shown = ", ".join(state_layout[:4]) + (", ..." if len(state_layout) > 4 else "")
        raise DataError(
            f"the graph model needs a state of pusher and object positions (pusher_x, pusher_y, obj0_x, "
            f"obj0_y, ... or particle0_x, ...), the data's state is {shown}; use --model mlp"
        )
    return num_objects


class GraphDynamics(MessagePassing):
    """Message passing with a GatedMLP edge function (`message`) and node function (`update`), summed messages.

    `num_objects` is the N trained with (the default of `export`); `forward` runs on any N.
    Normalisation is the identity until `fit_normalisation`.

    Args:
        num_objects: N, the objects of the training data (the default graph of `export`).
        action_dim: m, entries of the action (the pusher's displacement).
        hidden: widths of the hidden layers of each of the edge and node networks.
        message_dim: width of a message, the edge network's output.
        edge_set: the interaction graph, a name of `dynamics.frozen.EDGE_SETS` ("all_pairs" or "chain").

    Shapes:
        forward: states (B, 2 (N + 1)) as [pusher_x, pusher_y, obj1_x, obj1_y, ...] in cm, actions (B, m)
            -> next states (B, 2 (N + 1)), for any N >= 1.
        export: a `FrozenGraph` for `num_objects` objects (default: the N trained with).

    Raises:
        ModelConfigError: an unknown edge set, or `forward` on states that are not a batch of N >= 1 positions
            or on actions of another width.
        DataError: `check_metadata` on transitions whose state is not pusher + object positions or whose
            action has another width.
    """

    def __init__(
        self,
        num_objects: int,
        action_dim: int,
        hidden: Sequence[int] = (32, 32),
        message_dim: int = 16,
        edge_set: str = "all_pairs",
    ) -> None:
        super().__init__(aggr="add", node_dim=0)
        try:
            check_edge_set(edge_set)
        except ValueError as exc:
            raise ModelConfigError(str(exc)) from None
        self.num_objects, self.action_dim, self.message_dim = num_objects, action_dim, message_dim
        self.edge_set = edge_set
        control_dim = 1 + action_dim
        self.edge = GatedMLP(POSITION_DIM + control_dim, tuple(hidden), message_dim)
        self.node = GatedMLP(POSITION_DIM + control_dim + message_dim, tuple(hidden), POSITION_DIM)
        self.register_buffer("edge_mean", torch.zeros(POSITION_DIM + control_dim))
        self.register_buffer("edge_std", torch.ones(POSITION_DIM + control_dim))
        self.register_buffer("node_mean", torch.zeros(POSITION_DIM + control_dim + message_dim))
        self.register_buffer("node_std", torch.ones(POSITION_DIM + control_dim + message_dim))
        self.register_buffer("delta_mean", torch.zeros(POSITION_DIM))
        self.register_buffer("delta_std", torch.ones(POSITION_DIM))
        self.data_ranges: DataRanges | None = None  # dynamics.ranges: recorded on data, saved with the checkpoint

    @property
    def state_dim(self) -> int:
        """State width for the N trained with."""
        return POSITION_DIM * (self.num_objects + 1)

    def config(self) -> dict:
        """The constructor arguments, to rebuild the model from a checkpoint."""
        return {
            "num_objects": self.num_objects,
            "action_dim": self.action_dim,
            "hidden": list(self.edge.hidden),
            "message_dim": self.message_dim,
            "edge_set": self.edge_set,
        }

    def graph(self, state: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Node positions (B (N+1), 2), control inputs (B (N+1), 1 + m) and edge_index of a batch.

        Shapes: states (B, 2 (N+1)), actions (B, m)."""
        num_nodes, odd = divmod(state.shape[-1], POSITION_DIM)
        if state.ndim != 2 or odd or num_nodes < 2 or action.shape != (state.shape[0], self.action_dim):
            raise ModelConfigError(
                f"the graph model takes batches of states (B, 2 (N + 1)), N >= 1 objects, and actions "
                f"(B, {self.action_dim}), got {tuple(state.shape)} and {tuple(action.shape)}"
            )
        batch = state.shape[0]
        pusher = torch.cat([torch.ones_like(action[:, :1]), action], dim=-1)
        controls = torch.cat([pusher[:, None], pusher.new_zeros(batch, num_nodes - 1, pusher.shape[-1])], dim=1)
        return (
            state.reshape(batch * num_nodes, POSITION_DIM),
            controls.reshape(batch * num_nodes, -1),
            batched_edge_index(batch, num_nodes - 1, self.edge_set, state.device),
        )

    @staticmethod
    def edge_inputs(pos_i: torch.Tensor, pos_j: torch.Tensor, control_j: torch.Tensor) -> torch.Tensor:
        """[p_sender - p_receiver, c_sender] of each edge (j sends to i)."""
        return torch.cat([pos_j - pos_i, control_j], dim=-1)

    def message(self, pos_i: torch.Tensor, pos_j: torch.Tensor, control_j: torch.Tensor) -> torch.Tensor:
        """The edge function."""
        return self.edge((self.edge_inputs(pos_i, pos_j, control_j) - self.edge_mean) / self.edge_std)

    def update(self, summed: torch.Tensor, pos: torch.Tensor, control: torch.Tensor) -> torch.Tensor:
        """The node function: next position from position, control input and summed messages."""
        inputs = (torch.cat([pos, control, summed], dim=-1) - self.node_mean) / self.node_std
        return pos + self.node(inputs) * self.delta_std + self.delta_mean

    def forward(self, state: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """Next states (B, 2 (N+1)) from states (B, 2 (N+1)) and actions (B, m), for any N."""
        pos, control, edge_index = self.graph(state, action)
        return self.propagate(edge_index, pos=pos, control=control).reshape(state.shape)

    def fit_normalisation(self, states: torch.Tensor, actions: torch.Tensor, next_states: torch.Tensor) -> None:
        """Standardise the edge inputs, the node inputs (not the messages) and the position changes of all
        nodes with statistics of the training data; the same statistics serve every N."""
        pos, control, (senders, receivers) = self.graph(states, actions)
        edge_mean, edge_std = standardisation(self.edge_inputs(pos[receivers], pos[senders], control[senders]))
        node_mean, node_std = standardisation(torch.cat([pos, control], dim=-1))
        delta_mean, delta_std = standardisation((next_states - states).reshape(pos.shape))
        with torch.no_grad():
            self.edge_mean.copy_(edge_mean)
            self.edge_std.copy_(edge_std)
            self.node_mean[: node_mean.shape[0]] = node_mean
            self.node_std[: node_std.shape[0]] = node_std
            self.delta_mean.copy_(delta_mean)
            self.delta_std.copy_(delta_std)

    def check_metadata(self, metadata: dict) -> None:
        """DataError unless transitions with this metadata are pusher and object positions with the model's actions."""
        object_count(metadata["state_layout"])
        if len(metadata["action_low"]) != self.action_dim:
            raise DataError(f"the model reads {self.action_dim} actions, the data has {len(metadata['action_low'])}")

    @contextmanager
    def recording_messages(self) -> Iterator[list[torch.Tensor]]:
        """Inside the block, every application of the edge function appends its mean absolute message to the
        yielded list (training penalises it so that pairs which do not interact send nothing, whatever N)."""
        sizes = []
        handle = self.edge.register_forward_hook(lambda _module, _inputs, messages: sizes.append(messages.abs().mean()))
        try:
            yield sizes
        finally:
            handle.remove()

    def kind_counts(self) -> dict[str, int]:
        return count_kinds(self)

    def networks(self) -> dict[str, GatedMLP]:
        """The learned functions by name."""
        return {"edge": self.edge, "node": self.node}

    def graph_info(self) -> dict:
        """What a checkpoint records about the graph: N trained with, that any N runs, the edge set."""
        return {
            "num_objects": self.num_objects,
            "runs_on_any_num_objects": True,
            "edge_set": self.edge_set,
            "edges": EDGE_SETS[self.edge_set],
        }

    def architecture(self) -> list[str]:
        """Lines describing the networks and the graph, for `sparsedyn inspect`."""
        edge = " -> ".join(map(str, [self.edge.linears[0].in_features, *self.edge.hidden, self.message_dim]))
        node = " -> ".join(map(str, [self.node.linears[0].in_features, *self.node.hidden, POSITION_DIM]))
        n, edges = self.num_objects, len(graph_edges(self.num_objects, self.edge_set)[0])
        return [
            f"graph: edge {edge} per edge, node {node} per node, residual next position",
            f"trained with {n} objects ({edges} edges, {self.edge_set}: {EDGE_SETS[self.edge_set]}), runs on any "
            "number of objects",
        ]

    def export(self, num_objects: int | None = None) -> FrozenGraph:
        """FrozenGraph for `num_objects` (default: the N trained with), normalisation folded, the node's residual as
        skip; with the model's data ranges (dynamics.ranges) where they were recorded for its present weights."""
        edge_out = self.message_dim
        edge = fold_normalisation(
            self.edge.export(),
            self.edge_mean,
            self.edge_std,
            torch.zeros(edge_out),
            torch.ones(edge_out),
            np.zeros((edge_out, self.edge_mean.shape[0])),
        )
        node_in = self.node_mean.shape[0]
        node = fold_normalisation(
            self.node.export(),
            self.node_mean,
            self.node_std,
            self.delta_mean,
            self.delta_std,
            np.eye(POSITION_DIM, node_in),
        )
        frozen = FrozenGraph(
            edge, node, self.num_objects if num_objects is None else num_objects, self.action_dim, self.edge_set
        )
        return attach_ranges(self, frozen)
