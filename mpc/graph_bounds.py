"""Interval bounds on every edge- and node-network copy of a graph model over a planning horizon.

Step by step, as for an MLP (mpc.bounds): the state box gives every edge's input box (relative
positions, the pusher's action box), interval propagation through the edge network gives the
message boxes, their sums per receiver the node networks' input boxes, and propagation through the
node network the next state box, intersected with the workspace box.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dynamics.frozen import POSITION_DIM, FrozenGraph
from mpc.bounds import NetworkBounds, RolloutBounds, intersect, propagate_intervals, stack_copies


@dataclass(frozen=True)
class GraphBounds:
    """Bounds of the edge-network copies (steps x edges, step-major) and node-network copies
    (steps x nodes) of a graph model over `copies` steps."""

    edge: NetworkBounds
    node: NetworkBounds
    copies: int  # graph applications: one per step

    def binary_count(self, graph: FrozenGraph) -> int:
        return self.edge.binary_count(graph.edge) + self.node.binary_count(graph.node)


def _node_boxes(graph: FrozenGraph, state_low: np.ndarray, state_high: np.ndarray, action_low: np.ndarray,
                action_high: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Position and control-input boxes of every node."""
    position_low, control_low = graph.split(np.concatenate([state_low, action_low]))
    position_high, control_high = graph.split(np.concatenate([state_high, action_high]))
    return position_low, position_high, control_low, control_high


def graph_step_bounds(
    graph: FrozenGraph,
    state_low: np.ndarray,
    state_high: np.ndarray,
    action_low: np.ndarray,
    action_high: np.ndarray,
    workspace_low: np.ndarray,
    workspace_high: np.ndarray,
    step: int,
) -> tuple[NetworkBounds, NetworkBounds, np.ndarray, np.ndarray]:
    """One step: edge-network bounds (one copy per edge), node-network bounds (one per node), next state box."""
    position_low, position_high, control_low, control_high = _node_boxes(
        graph, state_low, state_high, action_low, action_high
    )
    senders, receivers = graph.edges
    # p_sender - p_receiver ranges from low_s - high_r to high_s - low_r; the control part copies the sender's box.
    edge_low = graph.edge_inputs(position_low, control_low)
    edge_high = graph.edge_inputs(position_high, control_high)
    edge_low[:, :POSITION_DIM] = position_low[senders] - position_high[receivers]
    edge_high[:, :POSITION_DIM] = position_high[senders] - position_low[receivers]
    edge = propagate_intervals(graph.edge, edge_low, edge_high)
    node = propagate_intervals(
        graph.node,
        graph.node_inputs(position_low, control_low, graph.sum_messages(edge.output_low)),
        graph.node_inputs(position_high, control_high, graph.sum_messages(edge.output_high)),
    )
    next_low, next_high = intersect(
        node.output_low.reshape(-1), node.output_high.reshape(-1), workspace_low, workspace_high, f" (at step {step + 1})"
    )
    return edge, node, next_low, next_high


def graph_rollout_bounds(
    graph: FrozenGraph,
    state: np.ndarray,
    action_low: np.ndarray,
    action_high: np.ndarray,
    horizon: int,
    workspace_low: np.ndarray | None = None,
    workspace_high: np.ndarray | None = None,
) -> RolloutBounds:
    """Interval bounds of a graph model's rollout from the fixed state x0 under any actions in the box."""
    if workspace_low is None:
        workspace_low, workspace_high = np.full(graph.state_dim, -np.inf), np.full(graph.state_dim, np.inf)
    state_low, state_high = [np.asarray(state, dtype=np.float64)], [np.asarray(state, dtype=np.float64)]
    edges, nodes = [], []
    for step in range(horizon):
        edge, node, low, high = graph_step_bounds(
            graph, state_low[-1], state_high[-1], action_low, action_high, workspace_low, workspace_high, step
        )
        edges.append(edge)
        nodes.append(node)
        state_low.append(low)
        state_high.append(high)
    return RolloutBounds(np.stack(state_low), np.stack(state_high), GraphBounds(stack_copies(edges), stack_copies(nodes), horizon))
