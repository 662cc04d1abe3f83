"""MLP dynamics model: next state = state + denormalised GatedMLP([state, action] normalised)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from dynamics.frozen import FrozenLayer, FrozenNetwork
from dynamics.gates import GatedMLP, count_kinds


class MLPDynamics(nn.Module):
    """Predicts the next state as a residual; normalisation is the identity until fitted."""

    def __init__(self, state_dim: int, action_dim: int, hidden: Sequence[int] = (128, 128)) -> None:
        super().__init__()
        self.state_dim = state_dim
        self.action_dim = action_dim
        self.net = GatedMLP(state_dim + action_dim, tuple(hidden), state_dim)
        self.register_buffer("input_mean", torch.zeros(state_dim + action_dim))
        self.register_buffer("input_std", torch.ones(state_dim + action_dim))
        self.register_buffer("delta_mean", torch.zeros(state_dim))
        self.register_buffer("delta_std", torch.ones(state_dim))

    def config(self) -> dict:
        """The constructor arguments, to rebuild the model from a checkpoint."""
        return {"state_dim": self.state_dim, "action_dim": self.action_dim, "hidden": list(self.net.hidden)}

    def fit_normalisation(self, states: torch.Tensor, actions: torch.Tensor, next_states: torch.Tensor) -> None:
        """Standardise inputs and state changes with statistics of the training data."""
        inputs = torch.cat([states, actions], dim=-1).double()
        deltas = (next_states - states).double()
        for mean, std, values in ((self.input_mean, self.input_std, inputs), (self.delta_mean, self.delta_std, deltas)):
            spread = values.std(dim=0)
            mean.copy_(values.mean(dim=0))
            std.copy_(torch.where(spread > 1e-8, spread, torch.ones_like(spread)))

    def forward(self, state: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        inputs = (torch.cat([state, action], dim=-1) - self.input_mean) / self.input_std
        return state + self.net(inputs) * self.delta_std + self.delta_mean

    def kind_counts(self) -> dict[str, int]:
        return count_kinds(self)

    def set_kinds(self, kinds: Sequence[np.ndarray]) -> None:
        """Commit every hidden neuron by hand: one int array of NeuronKind values per hidden layer."""
        self.net.set_kinds(kinds)

    def export(self) -> FrozenNetwork:
        """Frozen network from [state, action] to next state: normalisation folded, residual as skip."""
        network = self.net.export()
        input_mean, input_std = self.input_mean.double().numpy(), self.input_std.double().numpy()
        delta_mean, delta_std = self.delta_mean.double().numpy(), self.delta_std.double().numpy()
        layers = list(network.layers)
        first = layers[0]
        layers[0] = FrozenLayer(first.weight / input_std, first.bias - first.weight @ (input_mean / input_std), first.relu)
        last = layers[-1]
        layers[-1] = FrozenLayer(delta_std[:, None] * last.weight, delta_std * last.bias + delta_mean, last.relu)
        skip = np.hstack([np.eye(self.state_dim), np.zeros((self.state_dim, self.action_dim))])
        return FrozenNetwork(layers=tuple(layers), skip=skip)
