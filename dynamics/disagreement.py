"""Two MLP dynamics models as one, whose state carries their disagreement: a penalty the MILP can hold exactly.

An exact planner finds the action sequences on which its model's error flatters it most (the optimiser's
curse, docs/benchmarks.md "The model's gap"). Where two models trained on the same data disagree, at least
one of them is wrong: their disagreement is the usual measure of a learned model's epistemic uncertainty
(Chua et al., 2018, "Deep reinforcement learning in a handful of trials using probabilistic dynamics
models" (PETS); Kidambi et al., 2020, "MOReL"; Yu et al., 2020, "MOPO"). Planning with an L1 cost on it keeps
plans where the models agree, in the first place near their data.

`DisagreementDynamics(main, other, entries)` predicts with `main` and carries, as g more state entries, the
other model's prediction of the chosen state entries minus the main model's, both from the same state and
action:

    [x', d'] = [f(x, u), g(x, u)[entries] - f(x, u)[entries]]        (the input d is not used)

Its frozen export is one piecewise-linear network (both models' hidden layers side by side; the shallower
padded with identity layers, which the MILP substitutes away), so every planner of mpc plans on it
unchanged, and its ReLUs are both models' (the MILP's binaries about double). A task that prices d (its
goal 0, mpc.control.task.control_task with a disagreement weight) plans the main model's prediction plus
that price; the env observes x only (the task appends g zeros for d to its state).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from scipy.linalg import block_diag
from torch import nn

from dynamics.errors import DataError
from dynamics.frozen import FrozenLayer, FrozenNetwork
from dynamics.mlp import MLPDynamics


class DisagreementDynamics(nn.Module):
    """`main`'s next state, plus `other`'s prediction minus `main`'s on `entries` of the state (module docstring).

    Args:
        main: the model whose predictions the plans follow.
        other: a second model of the same state and action (e.g. the same recipe with another seed).
        entries: indices of the state entries whose disagreement is carried, g >= 1 distinct (e.g. the
            goal entries).

    Shapes:
        forward: state (..., n + g), action (..., m) -> next state (..., n + g); the input's last g entries
            are ignored.
        export: a `FrozenNetwork` from [state, action] (n + g + m) to the next state (n + g).

    Raises:
        DataError: the models are not MLPDynamics of the same state and action, or are the same model (equal
            parameters: they never disagree), or `entries` are not distinct indices of the state; `forward` on
            states of another width than n + g.
    """

    def __init__(self, main: nn.Module, other: nn.Module, entries: Sequence[int]) -> None:
        super().__init__()
        if not (isinstance(main, MLPDynamics) and isinstance(other, MLPDynamics)):
            raise DataError("the disagreement of two models needs two MLP dynamics models")
        if (main.state_dim, main.action_dim) != (other.state_dim, other.action_dim):
            raise DataError(
                f"the two models differ: state and action {main.state_dim} and {main.action_dim} against "
                f"{other.state_dim} and {other.action_dim}"
            )
        if main is other or _same_parameters(main, other):
            raise DataError(
                "the two models are the same (equal parameters): they never disagree; give a second model trained "
                "with another seed"
            )
        entries = [int(entry) for entry in entries]
        if not entries or len(set(entries)) != len(entries) or not all(0 <= e < main.state_dim for e in entries):
            raise DataError(f"entries must be distinct indices of the {main.state_dim} state entries, got {entries}")
        self.main, self.other = main, other
        self.observed_dim, self.action_dim = main.state_dim, main.action_dim
        self.register_buffer("entries", torch.tensor(entries, dtype=torch.long))

    @staticmethod
    def of_checkpoints(first, second) -> DisagreementDynamics:
        """The pair of two checkpoints (dynamics.checkpoint.Checkpoint) of one env, carrying their disagreement on
        the env's goal entries (the entries mpc.control.task.control_task prices).

        Raises:
            DataError: the checkpoints are of different envs, or not a pair of MLP models (see the class).
        """
        if first.metadata["env_id"] != second.metadata["env_id"]:
            raise DataError(
                f"the second model is of {second.metadata['env_id']}, the first of {first.metadata['env_id']}"
            )
        return DisagreementDynamics(first.model, second.model, first.metadata["goal_indices"])

    @property
    def state_dim(self) -> int:
        """n + g: the observed state and the carried disagreement."""
        return self.observed_dim + len(self.entries)

    def forward(self, state: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        if state.shape[-1] != self.state_dim:
            raise DataError(
                f"the pair's states have {self.state_dim} entries ({self.observed_dim} observed and "
                f"{len(self.entries)} of disagreement), got {state.shape[-1]}: plan it with a task that prices the "
                "disagreement (ControlSettings.disagreement_weight > 0)"
            )
        observed = state[..., : self.observed_dim]
        predicted = self.main(observed, action)
        disagreement = self.other(observed, action)[..., self.entries] - predicted[..., self.entries]
        return torch.cat([predicted, disagreement], dim=-1)

    def export(self) -> FrozenNetwork:
        """Both models' frozen networks side by side (no data ranges: the pair has none of its own)."""
        main, other = self.main.export(), self.other.export()
        depth = max(len(main.layers), len(other.layers))
        main, other = _deepened(main, depth), _deepened(other, depth)
        n, m, entries = self.observed_dim, self.action_dim, self.entries.cpu().numpy()
        g = len(entries)
        # The first layer reads [x, d, u]: the models' columns for x and u, none for d.
        reads = np.r_[np.arange(n), n + g + np.arange(m)]
        layers = []
        for index, (first, second) in enumerate(zip(main.layers[:-1], other.layers[:-1])):
            if index == 0:
                weight = np.zeros((first.out_dim + second.out_dim, n + g + m))
                weight[:, reads] = np.vstack([first.weight, second.weight])
            else:
                weight = block_diag(first.weight, second.weight)
            layers.append(FrozenLayer(weight, np.r_[first.bias, second.bias], np.r_[first.relu, second.relu]))
        first, second = main.layers[-1], other.layers[-1]
        width = first.in_dim
        hidden_in = first.in_dim + second.in_dim if depth > 1 else n + g + m
        weight, bias = np.zeros((n + g, hidden_in)), np.r_[first.bias, second.bias[entries] - first.bias[entries]]
        if depth > 1:
            weight[:n, :width] = first.weight
            weight[n:, :width] = -first.weight[entries]
            weight[n:, width:] = second.weight[entries]
        else:  # both models are affine: the output layer reads [x, d, u] directly
            weight[:n, reads] = first.weight
            weight[n:, reads] = second.weight[entries] - first.weight[entries]
        skip = np.zeros((n + g, n + g + m))
        skip[:n, reads] = main.skip
        skip[n:, reads] = other.skip[entries] - main.skip[entries]
        layers.append(FrozenLayer(weight, bias, np.zeros(n + g, dtype=bool)))
        return FrozenNetwork(layers=tuple(layers), skip=skip)


def _same_parameters(first: nn.Module, second: nn.Module) -> bool:
    """Whether two models hold the same parameters and buffers (names, shapes and values)."""
    first, second = first.state_dict(), second.state_dict()
    return first.keys() == second.keys() and all(
        first[name].shape == second[name].shape and torch.equal(first[name], second[name]) for name in first
    )


def _deepened(network: FrozenNetwork, depth: int) -> FrozenNetwork:
    """The same function with `depth` layers: identity layers (no ReLU) inserted before the output layer."""
    layers = list(network.layers)
    width = layers[-1].in_dim
    identity = FrozenLayer(np.eye(width), np.zeros(width), np.zeros(width, dtype=bool))
    return FrozenNetwork(
        layers=tuple(layers[:-1] + [identity] * (depth - len(layers)) + layers[-1:]), skip=network.skip
    )
