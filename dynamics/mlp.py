"""MLP dynamics model: next state = state + denormalised GatedMLP([state, action] normalised)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from dynamics.data import standardisation
from dynamics.errors import DataError
from dynamics.frozen import FrozenLayer, FrozenNetwork
from dynamics.gates import GatedMLP, count_kinds
from dynamics.ranges import DataRanges, attach_ranges


class MLPDynamics(nn.Module):
    """Predicts the next state as a residual; normalisation is the identity until fitted.

    Args:
        state_dim: n, entries of the state (the data's `state_layout`, in its units).
        action_dim: m, entries of the action.
        hidden: widths of the hidden layers; every hidden neuron is gated (ReLU, identity or zero).

    Shapes:
        forward: state (..., n), action (..., m) -> next state (..., n).
        export: a `FrozenNetwork` from [state, action] (n + m) to the next state (n).

    Raises:
        DataError: `check_metadata` on transitions of other state or action widths; `forward` on states of
            another width.
    """

    def __init__(self, state_dim: int, action_dim: int, hidden: Sequence[int] = (128, 128)) -> None:
        super().__init__()
        self.state_dim = state_dim
        self.action_dim = action_dim
        self.net = GatedMLP(state_dim + action_dim, tuple(hidden), state_dim)
        self.register_buffer("input_mean", torch.zeros(state_dim + action_dim))
        self.register_buffer("input_std", torch.ones(state_dim + action_dim))
        self.register_buffer("delta_mean", torch.zeros(state_dim))
        self.register_buffer("delta_std", torch.ones(state_dim))
        self.data_ranges: DataRanges | None = None  # dynamics.ranges: recorded on data, saved with the checkpoint

    def config(self) -> dict:
        """The constructor arguments, to rebuild the model from a checkpoint."""
        return {"state_dim": self.state_dim, "action_dim": self.action_dim, "hidden": list(self.net.hidden)}

    def fit_normalisation(self, states: torch.Tensor, actions: torch.Tensor, next_states: torch.Tensor) -> None:
        """Standardise inputs and state changes with statistics of the training data."""
        for mean, std, values in (
            (self.input_mean, self.input_std, torch.cat([states, actions], dim=-1)),
            (self.delta_mean, self.delta_std, next_states - states),
        ):
            for buffer, fitted in zip((mean, std), standardisation(values)):
                buffer.copy_(fitted)

    def forward(self, state: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        if state.shape[-1] != self.state_dim:
            raise DataError(f"the model takes states of {self.state_dim} entries, got {state.shape[-1]}")
        inputs = (torch.cat([state, action], dim=-1) - self.input_mean) / self.input_std
        return state + self.net(inputs) * self.delta_std + self.delta_mean

    def kind_counts(self) -> dict[str, int]:
        return count_kinds(self)

    def set_kinds(self, kinds: Sequence[np.ndarray]) -> None:
        """Commit every hidden neuron by hand: one int array of NeuronKind values per hidden layer."""
        self.net.set_kinds(kinds)

    def check_metadata(self, metadata: dict) -> None:
        """DataError unless transitions with this metadata have the model's state and action widths."""
        state_dim, action_dim = len(metadata["state_layout"]), len(metadata["action_low"])
        if (state_dim, action_dim) != (self.state_dim, self.action_dim):
            raise DataError(
                f"the model reads {self.state_dim} states and {self.action_dim} actions, "
                f"the data has {state_dim} and {action_dim}"
            )

    def networks(self) -> dict[str, GatedMLP]:
        """The learned functions by name (one here; a graph model has two)."""
        return {"mlp": self.net}

    def architecture(self) -> list[str]:
        """Lines describing the network, for `sparsedyn inspect`."""
        widths = [self.state_dim + self.action_dim, *self.net.hidden, self.state_dim]
        return [f"MLP {' -> '.join(map(str, widths))}, residual next state"]

    def export(self) -> FrozenNetwork:
        """Frozen network from [state, action] to next state: normalisation folded, residual as skip; with the
        model's data ranges (dynamics.ranges) where they were recorded for its present weights."""
        skip = np.hstack([np.eye(self.state_dim), np.zeros((self.state_dim, self.action_dim))])
        frozen = fold_normalisation(
            self.net.export(), self.input_mean, self.input_std, self.delta_mean, self.delta_std, skip
        )
        return attach_ranges(self, frozen)


def fold_normalisation(
    network: FrozenNetwork,
    input_mean: torch.Tensor,
    input_std: torch.Tensor,
    output_mean: torch.Tensor,
    output_std: torch.Tensor,
    skip: np.ndarray,
) -> FrozenNetwork:
    """The frozen network x -> network((x - input_mean) / input_std) * output_std + output_mean + skip @ x.

    The input standardisation folds into the first affine map, the output scaling into the last (one
    map may be both when every hidden layer was folded away).
    """
    input_mean, input_std, output_mean, output_std = (
        t.detach().cpu().double().numpy() for t in (input_mean, input_std, output_mean, output_std)
    )
    layers = list(network.layers)
    first = layers[0]
    layers[0] = FrozenLayer(first.weight / input_std, first.bias - first.weight @ (input_mean / input_std), first.relu)
    last = layers[-1]
    layers[-1] = FrozenLayer(output_std[:, None] * last.weight, output_std * last.bias + output_mean, last.relu)
    return FrozenNetwork(layers=tuple(layers), skip=skip)
