"""Bounds on every edge- and node-network copy of a graph model over a planning horizon.

Step by step, as for an MLP (mpc.milp.bounds.interval): the state box gives every edge's input box (relative
positions, the pusher's action box), propagation through the edge network gives the message
boxes, their sums per receiver the node networks' input boxes, and propagation through the node
network the next state box, intersected with the workspace box.

Propagation is by intervals, optionally tightened by back-substitution (CROWN) within each network
copy: interval bounds through even a small sparse node network inflate a pusher's 5 cm reach to
25 cm, and every box after the first step then spans the workspace; linear bounds keep the
dependence on the copy's inputs and stay close to the true reach.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from dynamics.frozen import POSITION_DIM, FrozenGraph, FrozenNetwork
from mpc.milp.bounds.interval import NetworkBounds, RolloutBounds, intersect, propagate_intervals, stack_copies, workspace_box


@dataclass(frozen=True)
class GraphBounds:
    """Bounds of the edge-network copies (steps x edges, step-major) and node-network copies
    (steps x nodes) of a graph model over `copies` steps."""

    edge: NetworkBounds
    node: NetworkBounds
    copies: int  # graph applications: one per step

    def binary_count(self, graph: FrozenGraph) -> int:
        return self.edge.binary_count(graph.edge) + self.node.binary_count(graph.node)


def _relu_relaxation(relu: np.ndarray, low: np.ndarray, high: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per neuron (K, width): lower slope (y >= slope z), upper slope and intercept (y <= slope z + intercept)."""
    switching = relu & (low < 0) & (high > 0)
    off = relu & (high <= 0)
    upper = np.where(switching, high / np.where(switching, high - low, 1.0), np.where(off, 0.0, 1.0))
    intercept = np.where(switching, -upper * low, 0.0)
    lower = np.where(switching, (high >= -low).astype(np.float64), np.where(off, 0.0, 1.0))
    return lower, upper, intercept


def linear_copy_bounds(network: FrozenNetwork, input_low: np.ndarray, input_high: np.ndarray) -> NetworkBounds:
    """Bounds for K copies with input boxes (K, input_dim): intervals, tightened layer by layer by
    back-substitution to each copy's input box (CROWN), every layer using the tightest bounds before it."""
    interval = propagate_intervals(network, input_low, input_high)
    copies, last = input_low.shape[0], len(network.layers) - 1
    pre_low, pre_high = list(interval.pre_low), list(interval.pre_high)
    relaxations = []
    for target in range(last + 1):
        width = network.layers[target].out_dim
        signs = np.vstack([np.eye(width), -np.eye(width)])
        coefficients = np.broadcast_to(signs, (copies, 2 * width, width))  # lower bounds of +z and -z
        constant = np.zeros((copies, 2 * width))
        for index in range(target, -1, -1):
            layer = network.layers[index]
            constant = constant + coefficients @ layer.bias
            coefficients = coefficients @ layer.weight
            if index > 0:
                lower, upper, intercept = relaxations[index - 1]
                negative = coefficients < 0
                constant = constant + np.where(negative, coefficients * intercept[:, None], 0.0).sum(axis=-1)
                coefficients = coefficients * np.where(negative, upper[:, None], lower[:, None])
        if target == last:
            coefficients = coefficients + signs @ network.skip
        bound = constant + np.einsum("kri,ki->kr", np.maximum(coefficients, 0.0), input_low) + np.einsum(
            "kri,ki->kr", np.minimum(coefficients, 0.0), input_high
        )
        low, high = bound[:, :width], -bound[:, width:]
        if target == last:
            out_low, out_high = intersect(interval.output_low, interval.output_high, low, high)
        else:
            pre_low[target], pre_high[target] = intersect(pre_low[target], pre_high[target], low, high)
            relaxations.append(_relu_relaxation(network.layers[target].relu, pre_low[target], pre_high[target]))
    return NetworkBounds(tuple(pre_low), tuple(pre_high), out_low, out_high)


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
    linear: bool = False,
) -> tuple[NetworkBounds, NetworkBounds, np.ndarray, np.ndarray]:
    """One step: edge-network bounds (one copy per edge), node-network bounds (one per node), next state box.

    linear: tighten each copy's interval bounds by back-substitution (`linear_copy_bounds`).
    """
    propagate = linear_copy_bounds if linear else propagate_intervals
    position_low, position_high, control_low, control_high = _node_boxes(
        graph, state_low, state_high, action_low, action_high
    )
    senders, receivers = graph.edges
    # p_sender - p_receiver ranges from low_s - high_r to high_s - low_r; the control part copies the sender's box.
    edge_low = graph.edge_inputs(position_low, control_low)
    edge_high = graph.edge_inputs(position_high, control_high)
    edge_low[:, :POSITION_DIM] = position_low[senders] - position_high[receivers]
    edge_high[:, :POSITION_DIM] = position_high[senders] - position_low[receivers]
    edge = propagate(graph.edge, edge_low, edge_high)
    node = propagate(
        graph.node,
        graph.node_inputs(position_low, control_low, graph.sum_messages(edge.output_low)),
        graph.node_inputs(position_high, control_high, graph.sum_messages(edge.output_high)),
    )
    next_low, next_high = intersect(
        node.output_low.reshape(-1), node.output_high.reshape(-1), workspace_low, workspace_high, f" (at step {step + 1})"
    )
    return edge, node, next_low, next_high


StateTightener = Callable[[int, RolloutBounds], tuple[np.ndarray, np.ndarray]]


def graph_rollout_bounds(
    graph: FrozenGraph,
    state: np.ndarray,
    action_low: np.ndarray,
    action_high: np.ndarray,
    horizon: int,
    workspace_low: np.ndarray | None = None,
    workspace_high: np.ndarray | None = None,
    linear: bool = False,
    tighten_state: StateTightener | None = None,
) -> RolloutBounds:
    """Bounds of a graph model's rollout from the fixed state x0 under any actions in the box
    (intervals; linear: tightened by back-substitution within each network copy).

    tighten_state(step, prefix), if given, returns bounds on x[step + 1] given the bounds of steps
    0..step (`prefix`); they are intersected with the propagated box before the next step.
    """
    workspace_low, workspace_high = workspace_box(graph.state_dim, workspace_low, workspace_high)
    state_low, state_high = [np.asarray(state, dtype=np.float64)], [np.asarray(state, dtype=np.float64)]
    edges, nodes = [], []

    def rollout(lows: list[np.ndarray], highs: list[np.ndarray]) -> RolloutBounds:
        return RolloutBounds(np.stack(lows), np.stack(highs), GraphBounds(stack_copies(edges), stack_copies(nodes), len(edges)))

    for step in range(horizon):
        edge, node, low, high = graph_step_bounds(
            graph, state_low[-1], state_high[-1], action_low, action_high, workspace_low, workspace_high, step, linear
        )
        edges.append(edge)
        nodes.append(node)
        if tighten_state is not None:
            low, high = intersect(low, high, *tighten_state(step, rollout(state_low + [low], state_high + [high])))
        state_low.append(low)
        state_high.append(high)
    return rollout(state_low, state_high)
