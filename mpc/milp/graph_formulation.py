"""Mixed-integer formulation of a graph model over K steps, built from the per-network encoding.

A graph model (dynamics.frozen.FrozenGraph) applies its edge network to every edge and its node
network to every node. Both are encoded by `mpc.milp.formulation.encode_network_copies`, once for all
K x edges copies and once for all K x nodes copies, so the graph adds no formulation of its own,
only affine glue:

    edge inputs   [p_sender - p_receiver, c_sender]     affine in x[t], u[t]  (substituted)
    summed[t, i]  = sum of the messages received by i   one column and one equality row each
    node inputs   [p_i, c_i, summed[t, i]]              affine in x[t], u[t], summed  (substituted)
    x[t + 1]      = node outputs                        the given output columns

The affine glue is not written out by hand: it is read off FrozenGraph's own numpy functions
(`edge_inputs`, `sum_messages`, `node_inputs`) by evaluating them on unit vectors, so the program
and the forward pass cannot disagree about the graph.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from dynamics.frozen import FrozenGraph
from mpc.milp.bounds.boxes import GraphBounds
from mpc.milp.formulation import AffineMap, NetworkEncoding, encode_network_copies
from mpc.milp.program import ProgramBuilder


def affine_matrix(function: Callable[[np.ndarray], np.ndarray], in_dim: int) -> tuple[np.ndarray, np.ndarray]:
    """(weight, bias) with function(v).reshape(-1) == weight @ v + bias, for an affine `function` of v (in_dim,)."""
    bias = function(np.zeros(in_dim)).reshape(-1)
    basis = np.eye(in_dim)
    weight = np.stack([function(basis[j]).reshape(-1) for j in range(in_dim)], axis=1) - bias[:, None]
    return weight, bias


def _copies_of(affine: AffineMap, dim: int) -> AffineMap:
    """Reinterpret K vectors of (P * dim) expressions as K * P vectors of dim expressions (same order)."""
    return AffineMap(affine.rows, affine.columns, affine.values, affine.offset.reshape(-1, dim))


@dataclass(frozen=True)
class GraphEncoding:
    """Where K steps of a graph model live in the program; `fill` writes a forward pass into it."""

    network: FrozenGraph
    edges: NetworkEncoding  # K * num_edges copies, step-major
    nodes: NetworkEncoding  # K * num_nodes copies, step-major
    summed: np.ndarray  # (K, num_nodes * message_dim) summed-message columns, -1 for the pusher

    def fill(self, values: np.ndarray, inputs: np.ndarray) -> np.ndarray:
        """Write every column's value for the inputs [x_t, u_t] (K, input_dim) into `values`; return next states."""
        graph = self.network
        positions, controls = graph.split(inputs)
        edge_inputs = graph.edge_inputs(positions, controls)
        messages = self.edges.fill(values, edge_inputs.reshape(-1, edge_inputs.shape[-1]))
        summed = graph.sum_messages(messages.reshape(edge_inputs.shape[:-1] + (graph.message_dim,)))
        present = self.summed >= 0
        values[self.summed[present]] = summed.reshape(self.summed.shape)[present]
        node_inputs = graph.node_inputs(positions, controls, summed)
        following = self.nodes.fill(values, node_inputs.reshape(-1, node_inputs.shape[-1]))
        return following.reshape(inputs.shape[0], graph.state_dim)


def encode_graph_steps(
    builder: ProgramBuilder,
    graph: FrozenGraph,
    inputs: AffineMap,
    bounds: GraphBounds,
    output_columns: np.ndarray,
) -> GraphEncoding:
    """Add K graph steps; step k reads `inputs` copy k ([x_t, u_t]) and its next state is output_columns[k].

    Column blocks: `edge1_y`... and `edge_out` (messages) for the edge network, `summed`, and
    `node1_y`... for the node network.
    """
    steps, nodes, message_dim = inputs.copies, graph.num_nodes, graph.message_dim
    if inputs.dim != graph.input_dim or bounds.copies != steps:
        raise ValueError("the inputs and bounds must hold one [state, action] vector per step")

    def edge_inputs(vector: np.ndarray) -> np.ndarray:
        return graph.edge_inputs(*graph.split(vector))

    edge_map = _copies_of(inputs.then_affine(*affine_matrix(edge_inputs, graph.input_dim)), graph.edge.input_dim)
    edges = encode_network_copies(builder, graph.edge, edge_map, bounds.edge, name="edge")

    # summed[t, i] = sum of the messages received by node i at step t (objects only: the pusher receives none).
    receives = np.zeros((steps, nodes, message_dim), dtype=bool)
    receives[:, np.unique(graph.edges[1])] = True
    sum_low = graph.sum_messages(bounds.edge.output_low.reshape(steps, -1, message_dim))
    sum_high = graph.sum_messages(bounds.edge.output_high.reshape(steps, -1, message_dim))
    summed = builder.add_columns("summed", receives, sum_low, sum_high).reshape(steps, nodes * message_dim)
    messages = AffineMap.of_columns(edges.outputs.reshape(steps, -1))
    sum_weight, _ = affine_matrix(lambda flat: graph.sum_messages(flat.reshape(-1, message_dim)), messages.dim)
    messages.then_affine(sum_weight, 0.0).tie(builder, summed)

    def node_inputs(vector: np.ndarray) -> np.ndarray:  # [x_t, u_t, summed_t] -> every node's input
        positions, controls = graph.split(vector[: graph.input_dim])
        return graph.node_inputs(positions, controls, vector[graph.input_dim :].reshape(nodes, message_dim))

    weight, bias = affine_matrix(node_inputs, graph.input_dim + nodes * message_dim)
    node_map = inputs.then_affine(weight[:, : graph.input_dim], bias) + AffineMap.of_columns(summed).then_affine(
        weight[:, graph.input_dim :], 0.0
    )
    node_encoding = encode_network_copies(
        builder,
        graph.node,
        _copies_of(node_map, graph.node.input_dim),
        bounds.node,
        name="node",
        output_columns=output_columns.reshape(steps * nodes, -1),
    )
    return GraphEncoding(graph, edges, node_encoding, summed)
