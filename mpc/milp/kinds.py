"""The model-kind dispatch: one table from the kind of frozen model to the code the MILP uses for it.

A frozen dynamics model (seam 2) is an MLP (`FrozenNetwork`: one network copy per step) or a
graph model (`FrozenGraph`: per step one edge-network copy per edge and one node-network copy
per node). The bound methods (mpc.milp.bounds), the horizon program (mpc.milp.horizon) and the
planner are written once for both; everything that depends on the kind is looked up here, as
OMLT's formulations look up the code of each layer type:

    step_bounds     one step: the copies' bounds and the next state box, from the input box [state
                    box, action box] (interval propagation, or back-substitution within each copy)
    hidden_layers   the hidden layers whose neurons a tightener bounds at every step
    encode          the big-M formulation of K steps (mpc.milp.formulation, mpc.milp.graph_formulation)
    modes           what each bound mode ("interval", "linear", "lp") runs for this kind
    with_objects    the model on a graph of another size (the MILP encodes a fixed graph)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np

from dynamics.frozen import POSITION_DIM, FrozenGraph, FrozenNetwork
from mpc.errors import ProblemError
from mpc.milp.bounds.boxes import GraphBounds, NetworkBounds
from mpc.milp.bounds.crown import linear_copy_bounds
from mpc.milp.bounds.interval import propagate_intervals
from mpc.milp.formulation import encode_network_copies
from mpc.milp.graph_formulation import encode_graph_steps

# "lp" on an MLP with fewer binaries after interval bounds runs as "linear": its LPs would cost more than they save.
LP_MIN_BINARIES = 28


def network_step_bounds(
    network: FrozenNetwork, input_low: np.ndarray, input_high: np.ndarray, linear: bool, known: NetworkBounds | None
) -> tuple[NetworkBounds, np.ndarray, np.ndarray]:
    """One step of an MLP: its one network copy on the input box [state box, action box].

    Args:
        input_low, input_high: the step's input box.
        linear: tighten the copy's interval bounds by back-substitution (`linear_copy_bounds`).
        known: bounds already known for the copy; every layer is intersected with them.

    Returns:
        (bounds of the copy, next state low, next state high): the next state box is the output box.

    Shapes:
        input_low, input_high: (n + m,) -> bounds of 1 copy, (n,), (n,).
    """
    propagate = linear_copy_bounds if linear else propagate_intervals
    bounds = propagate(network, input_low[None], input_high[None], known)
    return bounds, bounds.output_low[0], bounds.output_high[0]


def graph_step_bounds(
    graph: FrozenGraph, input_low: np.ndarray, input_high: np.ndarray, linear: bool, known: GraphBounds | None
) -> tuple[GraphBounds, np.ndarray, np.ndarray]:
    """One step of a graph model: one edge-network copy per edge, one node-network copy per node.

    The state box gives every edge's input box (relative positions, the sender's control input),
    the edge network's bounds give the message boxes, their sums per receiver the node networks'
    input boxes, and the node network's output boxes the next state box.

    Args:
        input_low, input_high: the step's input box [state box, action box].
        linear: tighten each copy's interval bounds by back-substitution within the copy
            (`linear_copy_bounds`): interval bounds through even a small sparse node network
            inflate a pusher's 5 cm reach to 25 cm, and every box after the first step then spans
            the workspace; linear bounds keep the dependence on the copy's inputs.
        known: bounds already known for this step's copies.

    Shapes:
        input_low, input_high: (input_dim,) -> bounds of one graph application, (state_dim,), (state_dim,).
    """
    propagate = linear_copy_bounds if linear else propagate_intervals
    position_low, control_low = graph.split(input_low)
    position_high, control_high = graph.split(input_high)
    senders, receivers = graph.edges
    # p_sender - p_receiver ranges from low_s - high_r to high_s - low_r; the control part copies the sender's box.
    edge_low = graph.edge_inputs(position_low, control_low)
    edge_high = graph.edge_inputs(position_high, control_high)
    edge_low[:, :POSITION_DIM] = position_low[senders] - position_high[receivers]
    edge_high[:, :POSITION_DIM] = position_high[senders] - position_low[receivers]
    edge = propagate(graph.edge, edge_low, edge_high, None if known is None else known.edge)
    node = propagate(
        graph.node,
        graph.node_inputs(position_low, control_low, graph.sum_messages(edge.output_low)),
        graph.node_inputs(position_high, control_high, graph.sum_messages(edge.output_high)),
        None if known is None else known.node,
    )
    return GraphBounds(edge, node, 1), node.output_low.reshape(-1), node.output_high.reshape(-1)


@dataclass(frozen=True)
class BoundMode:
    """What a bound mode runs for one model kind (mpc.milp.bounds.rollout.rollout_bounds).

    linear_steps: every step's copies by back-substitution within each copy, not by intervals.
    tighteners: then, step by step, in order: "linear" (back-substitution through the horizon,
        mpc.milp.bounds.crown.linear_tightener), "lp" (mpc.milp.bounds.lp.lp_tightener).
    skip_lp_below: with fewer binaries than this after interval bounds, "lp" is left out: its LPs
        would take longer than the whole solve (measured by examples/bench_milp.py).
    """

    linear_steps: bool = False
    tighteners: tuple[str, ...] = ()
    skip_lp_below: int = 0


@dataclass(frozen=True)
class ModelKind:
    """The code the MILP uses for one kind of frozen model; see the module docstring."""

    step_bounds: Callable[..., tuple[NetworkBounds | GraphBounds, np.ndarray, np.ndarray]]
    hidden_layers: Callable[[FrozenNetwork | FrozenGraph], range]
    encode: Callable
    with_objects: Callable[[FrozenNetwork | FrozenGraph, int], FrozenNetwork | FrozenGraph]
    modes: dict[str, BoundMode]


MODEL_KINDS: dict[type, ModelKind] = {
    FrozenNetwork: ModelKind(
        step_bounds=network_step_bounds,
        hidden_layers=lambda network: range(len(network.layers) - 1),
        encode=partial(encode_network_copies, name="f"),
        with_objects=lambda network, num_objects: network,  # sized by its state, not by a graph
        modes={
            "interval": BoundMode(),
            "linear": BoundMode(tighteners=("linear",)),
            "lp": BoundMode(tighteners=("linear", "lp"), skip_lp_below=LP_MIN_BINARIES),
        },
    ),
    FrozenGraph: ModelKind(
        step_bounds=graph_step_bounds,
        # No per-neuron tightening: an LP per switching ReLU of every edge copy costs too much, and
        # the state boxes carry most of the gain.
        hidden_layers=lambda graph: range(0),
        encode=encode_graph_steps,
        with_objects=FrozenGraph.with_objects,
        modes={
            "interval": BoundMode(),
            "linear": BoundMode(linear_steps=True),
            "lp": BoundMode(linear_steps=True, tighteners=("lp",)),
        },
    ),
}


def model_kind(model: FrozenNetwork | FrozenGraph) -> ModelKind:
    """The entry of MODEL_KINDS for `model`.

    Raises:
        ProblemError: `model` is not a frozen network or graph (seam 2).
    """
    try:
        return MODEL_KINDS[type(model)]
    except KeyError:
        raise ProblemError(
            f"the MILP planner needs a frozen network or graph (dynamics.frozen), got a {type(model).__name__}"
        ) from None
