"""Data-derived neuron bounds (not sound): the pre-activation ranges a model's neurons took on its data.

The sound bounds of mpc.milp.bounds hold for every action sequence in the action box, and over a
horizon they grow loose: many ReLUs can switch at every step and their big-M values are large. The
pre-activations a hidden neuron took on the model's training data (`dynamics.ranges`, recorded by
`sparsedyn train` or `sparsedyn record-ranges`, carried by the frozen export as
`FrozenNetwork.data_ranges`) are far narrower. With `data_ranges=True` the MILP planners intersect
every step's hidden-layer pre-activation bounds with them, widened by DATA_RANGE_MARGIN of their
width on each side (`clip_to_data_ranges`, run by `mpc.milp.bounds.rollout.rollout_bounds` as every
step's copies are bounded, so that the tighter neuron bounds carry into the next state boxes and every
later step): fewer binaries, smaller big-M values.

This is not sound: the program then only holds the plans whose neurons stay within the widened ranges,
and it is not exact on the model outside them (a neuron whose range lies above zero is encoded as
linear, y = z, even where z < 0). The plan itself is always the network's rollout of its actions, so
its objective is the model's; `outside_data_ranges` counts the pre-activations of a plan's rollout
that leave the widened ranges, which the planners report in `Plan.extras["outside_data_ranges"]`.

Where a neuron's sound bounds and its widened range do not meet at all (the start state lies outside
the data), its sound bounds are kept: the range says nothing about that neuron there.
"""

from __future__ import annotations

import numpy as np

from dynamics.frozen import FrozenGraph, FrozenNetwork
from dynamics.ranges import frozen_networks, pre_activations
from mpc.errors import ProblemError
from mpc.milp.bounds.boxes import GraphBounds, NetworkBounds

# Each side of a recorded range is moved out by this fraction of the range's width: the data are a sample,
# and a plan may go a little beyond what it held. A neuron that took one value on all the data keeps it.
DATA_RANGE_MARGIN = 0.1

# A pre-activation counts as outside its widened range only beyond this (relative to 1 + |bound|): the
# program's plans sit on their bounds within solver tolerances.
OUTSIDE_TOLERANCE = 1e-6

HOW_TO_RECORD = (
    "record them with `sparsedyn record-ranges MODEL.pt DATA.npz ...` (the data the model was trained on), "
    "or `model.data_ranges = dynamics.ranges.record_ranges(model, states, actions)`"
)


def has_data_ranges(model: FrozenNetwork | FrozenGraph) -> bool:
    """Whether every frozen network of the model carries data ranges."""
    return all(network.data_ranges is not None for network in frozen_networks(model).values())


def require_data_ranges(model: FrozenNetwork | FrozenGraph) -> None:
    """ProblemError unless the frozen model carries data ranges (the message says how to record them)."""
    if not has_data_ranges(model):
        raise ProblemError(
            "data_ranges=True needs the pre-activation ranges of the model on its data, and this model has none "
            f"(or they were recorded for other weights); {HOW_TO_RECORD}"
        )


def widened_ranges(network: FrozenNetwork, margin: float = DATA_RANGE_MARGIN) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per hidden layer, the network's data ranges moved out by `margin` times their width on each side.

    Raises:
        ProblemError: the network carries no data ranges.
    """
    if network.data_ranges is None:
        raise ProblemError(f"the network carries no data ranges; {HOW_TO_RECORD}")
    return [(low - margin * (high - low), high + margin * (high - low)) for low, high in network.data_ranges]


def _clip_copies(bounds: NetworkBounds, network: FrozenNetwork) -> NetworkBounds | None:
    """The copies' bounds intersected with the widened ranges where both meet; None where nothing changes."""
    pre_low, pre_high = list(bounds.pre_low), list(bounds.pre_high)
    changed = False
    for index, (low, high) in enumerate(widened_ranges(network)):
        meet = (pre_low[index] <= high) & (pre_high[index] >= low)
        new_low = np.where(meet, np.maximum(pre_low[index], low), pre_low[index])
        new_high = np.where(meet, np.minimum(pre_high[index], high), pre_high[index])
        if np.any(new_low > pre_low[index]) or np.any(new_high < pre_high[index]):
            changed = True
            pre_low[index], pre_high[index] = new_low, new_high
    return NetworkBounds(tuple(pre_low), tuple(pre_high), bounds.output_low, bounds.output_high) if changed else None


def clip_to_data_ranges(
    bounds: NetworkBounds | GraphBounds, model: FrozenNetwork | FrozenGraph
) -> NetworkBounds | GraphBounds | None:
    """Bounds of one step's copies of the model (an MLP's network copy, a graph's edge and node copies)
    with every hidden pre-activation box intersected with the widened data range of its neuron, where the
    two meet (elsewhere the box is kept); None where that changes nothing. Pass the result as the known
    bounds of the step's propagation (`ModelKind.step_bounds`) to carry it through the layers.

    Raises:
        ProblemError: the model carries no data ranges.
    """
    require_data_ranges(model)
    if isinstance(model, FrozenGraph):
        edge, node = _clip_copies(bounds.edge, model.edge), _clip_copies(bounds.node, model.node)
        if edge is None and node is None:
            return None
        return GraphBounds(bounds.edge if edge is None else edge, bounds.node if node is None else node, bounds.copies)
    return _clip_copies(bounds, model)


def outside_data_ranges(model: FrozenNetwork | FrozenGraph, states: np.ndarray, actions: np.ndarray) -> int:
    """How many hidden-neuron pre-activations of a rollout lie outside their widened data ranges, over all
    steps (and, for a graph model, all edge and node copies).

    Shapes:
        states (H + 1, n) (the last state is not an input), actions (H, m).

    Raises:
        ProblemError: the model carries no data ranges.
    """
    require_data_ranges(model)
    inputs = np.concatenate([np.asarray(states)[:-1], np.asarray(actions)], axis=-1)
    found = pre_activations(model, inputs)
    networks = frozen_networks(model)
    outside = 0
    for name, layers in found.items():
        for pre, (low, high) in zip(layers, widened_ranges(networks[name])):
            below = pre < low - OUTSIDE_TOLERANCE * (1.0 + np.abs(low))
            above = pre > high + OUTSIDE_TOLERANCE * (1.0 + np.abs(high))
            outside += int(np.count_nonzero(below | above))
    return outside


def data_range_extras(model: FrozenNetwork | FrozenGraph, states: np.ndarray, actions: np.ndarray) -> dict:
    """What a plan's extras say about the data ranges: {"data_ranges": True, "outside_data_ranges": count}."""
    return {"data_ranges": True, "outside_data_ranges": outside_data_ranges(model, states, actions)}
