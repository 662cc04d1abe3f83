"""Data-derived pre-activation ranges: what each hidden neuron of a model's frozen export took on its data.

The MILP planner's big-M values come from sound bounds on every ReLU's pre-activation over the whole
action box and horizon (mpc.milp.bounds), which are loose. The pre-activations a neuron actually takes on
the transitions the model was trained on are far narrower. `record_ranges` measures them on the frozen
export (`model.export()`, the network the MILP encodes: normalisation folded, removed neurons dropped,
affine layers merged), per learned function: "mlp" for an `MLPDynamics`, "edge" and "node" for a
`GraphDynamics` (every edge and every node of every transition). They are facts about the data, not
bounds of the model: a plan may leave them (mpc.milp.bounds.data_ranges, `data_ranges=True` of the MILP
planners, uses them only where asked and reports when a plan does).

A model carries its ranges as `model.data_ranges` (a `DataRanges`, not part of its state_dict: the
weights stay as they are), checkpoints save them (dynamics.checkpoint), and the model's `export()`
attaches them to the frozen network(s) (`FrozenNetwork.data_ranges`), but only while the weights are
the ones they were recorded for (`weights_fingerprint`): after more training they are dropped.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import nn

from dynamics.errors import DataError
from dynamics.frozen import FrozenGraph, FrozenNetwork


@dataclass(frozen=True)
class DataRanges:
    """Per learned function ("mlp", or "edge" and "node"), per hidden layer of its frozen export, the
    smallest and largest pre-activation of every neuron on `transitions` transitions.

    fingerprint: `weights_fingerprint` of the model they were recorded on; they describe those weights only.

    Shapes:
        networks[name][k] = (low, high), each (width of hidden layer k of the frozen network `name`,).
    """

    networks: dict[str, tuple[tuple[np.ndarray, np.ndarray], ...]]
    fingerprint: str
    transitions: int

    def to_dict(self) -> dict:
        """Plain types and tensors, for a checkpoint read with torch's weights_only loader."""
        return {
            "networks": {
                name: [[torch.from_numpy(low), torch.from_numpy(high)] for low, high in layers]
                for name, layers in self.networks.items()
            },
            "fingerprint": self.fingerprint,
            "transitions": self.transitions,
        }

    @staticmethod
    def from_dict(content: dict) -> DataRanges:
        """The inverse of `to_dict`; KeyError, TypeError or ValueError on anything else."""
        networks = {
            str(name): tuple(
                (np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)) for low, high in layers
            )
            for name, layers in content["networks"].items()
        }
        return DataRanges(networks, str(content["fingerprint"]), int(content["transitions"]))

    @property
    def neurons(self) -> int:
        """Hidden neurons with a range, over all learned functions."""
        return sum(low.size for layers in self.networks.values() for low, _ in layers)


def weights_fingerprint(model: nn.Module) -> str:
    """A hash of every tensor of the model's state_dict (names, dtypes, shapes and bytes): the same for a model
    loaded from the same checkpoint on any machine or device, another after any change of a weight or gate."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        array = tensor.detach().cpu().contiguous().numpy()
        digest.update(f"{name}:{array.dtype}:{array.shape};".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def frozen_networks(frozen: FrozenNetwork | FrozenGraph) -> dict[str, FrozenNetwork]:
    """The frozen networks of a frozen model by name: {"mlp": network} or {"edge": ..., "node": ...}."""
    if isinstance(frozen, FrozenGraph):
        return {"edge": frozen.edge, "node": frozen.node}
    return {"mlp": frozen}


def pre_activations(frozen: FrozenNetwork | FrozenGraph, inputs: np.ndarray) -> dict[str, list[np.ndarray]]:
    """Every hidden pre-activation of a frozen model applied to [state, action] inputs, per frozen network.

    A graph's edge network runs once per edge and its node network once per node (`FrozenGraph.forward`).

    Shapes:
        inputs (..., input_dim) -> {"mlp": [(..., width_k)]} or
        {"edge": [(..., edges, width_k)], "node": [(..., nodes, width_k)]}.
    """
    if isinstance(frozen, FrozenGraph):
        positions, controls = frozen.split(inputs)
        edge_inputs = frozen.edge_inputs(positions, controls)
        summed = frozen.sum_messages(frozen.edge.forward(edge_inputs))
        return {
            "edge": frozen.edge.pre_activations(edge_inputs),
            "node": frozen.node.pre_activations(frozen.node_inputs(positions, controls, summed)),
        }
    return {"mlp": frozen.pre_activations(inputs)}


def record_ranges(model: nn.Module, states: np.ndarray, actions: np.ndarray) -> DataRanges:
    """The smallest and largest pre-activation of every hidden neuron of the model's frozen export on
    the given transitions' inputs [state, action] (a graph model: every edge and node, on the data's number
    of objects). Assign the result to `model.data_ranges` to attach it to the model and its checkpoint.

    Args:
        model: an `MLPDynamics` or `GraphDynamics`.
        states, actions: the inputs of the transitions (e.g. `Transitions.observations` and `.actions`).

    Shapes:
        states (N, n), actions (N, m).

    Raises:
        DataError: no transitions, or states and actions of other widths than the model's (or of different
            counts).
    """
    states, actions = np.asarray(states, dtype=np.float64), np.asarray(actions, dtype=np.float64)
    if states.ndim != 2 or actions.ndim != 2 or len(states) != len(actions) or not len(states):
        raise DataError("recording pre-activation ranges needs states (N, n) and actions (N, m) of N >= 1 transitions")
    if hasattr(model, "num_objects"):  # a graph model: frozen for the data's number of objects
        frozen = model.export(states.shape[1] // 2 - 1)
    else:
        frozen = model.export()
    if states.shape[1] + actions.shape[1] != frozen.input_dim:
        raise DataError(
            f"the model reads {frozen.input_dim} inputs [state, action], the data has "
            f"{states.shape[1]} + {actions.shape[1]}"
        )
    found = pre_activations(frozen, np.concatenate([states, actions], axis=1))
    networks = {}
    for name, layers in found.items():
        flat = [pre.reshape(-1, pre.shape[-1]) for pre in layers]
        networks[name] = tuple((pre.min(axis=0), pre.max(axis=0)) for pre in flat)
    return DataRanges(networks, weights_fingerprint(model), len(states))


def attach_ranges(model: nn.Module, frozen: FrozenNetwork | FrozenGraph) -> FrozenNetwork | FrozenGraph:
    """`frozen` (the model's export) with the model's data ranges attached to its frozen network(s), where the
    model has ranges recorded for its present weights and they fit the export; `frozen` itself otherwise."""
    ranges = getattr(model, "data_ranges", None)
    if ranges is None or ranges.fingerprint != weights_fingerprint(model):
        return frozen
    try:
        attached = {
            name: replace(network, data_ranges=ranges.networks[name])
            for name, network in frozen_networks(frozen).items()
        }
    except (KeyError, ValueError):  # recorded for another kind of model: nothing to attach
        return frozen
    if isinstance(frozen, FrozenGraph):
        return replace(frozen, edge=attached["edge"], node=attached["node"])
    return attached["mlp"]
