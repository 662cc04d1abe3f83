"""Transition data prepared for training: split by episode, rollout windows, torch tensors."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from dynamics.errors import DataError
from envs.dataset import Transitions


@dataclass(frozen=True)
class TransitionTensors:
    """Transitions as float32 tensors (on the CPU unless moved with `to`), rows in file order."""

    states: torch.Tensor  # (N, n)
    actions: torch.Tensor  # (N, m)
    next_states: torch.Tensor  # (N, n)
    episode_ids: np.ndarray  # (N,)

    @classmethod
    def from_transitions(cls, transitions: Transitions, rows: np.ndarray | None = None) -> TransitionTensors:
        rows = np.arange(len(transitions)) if rows is None else rows
        return cls(
            states=torch.as_tensor(transitions.observations[rows], dtype=torch.float32),
            actions=torch.as_tensor(transitions.actions[rows], dtype=torch.float32),
            next_states=torch.as_tensor(transitions.next_observations[rows], dtype=torch.float32),
            episode_ids=np.asarray(transitions.episode_ids[rows]),
        )

    def to(self, device: torch.device | str) -> TransitionTensors:
        """The same transitions with their tensors on `device` (the episode ids stay a numpy array)."""
        return TransitionTensors(
            self.states.to(device), self.actions.to(device), self.next_states.to(device), self.episode_ids
        )

    def __len__(self) -> int:
        return self.states.shape[0]

    def window_starts(self, steps: int) -> np.ndarray:
        """Rows where `steps` consecutive transitions of one episode begin.

        Row j continues into row j+1 when both belong to one episode and the next observation of
        j is the observation of j+1, so windows never span a reset or a gap in the file.
        """
        links = (self.episode_ids[1:] == self.episode_ids[:-1]) & np.all(
            np.isclose(self.next_states[:-1].cpu().numpy(), self.states[1:].cpu().numpy(), rtol=1e-5, atol=1e-6), axis=1
        )
        breaks = np.concatenate([[0], np.cumsum(~links)])  # breaks[j] = broken links before row j
        last_start = len(self) - steps
        if last_start < 0:
            return np.zeros(0, dtype=np.int64)
        starts = np.arange(last_start + 1)
        return starts[breaks[starts + steps - 1] == breaks[starts]]

    def windows(self, starts: np.ndarray, steps: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Start states (B, n), actions (B, steps, m) and true next states (B, steps, n), on the data's device."""
        device = self.states.device
        rows = torch.as_tensor(starts, device=device)[:, None] + torch.arange(steps, device=device)
        return self.states[rows[:, 0]], self.actions[rows], self.next_states[rows]


def standardisation(values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-column mean and standard deviation of (rows, columns) values in float64; 1 for a constant column."""
    values = values.double()
    spread = values.std(dim=0)
    return values.mean(dim=0), torch.where(spread > 1e-8, spread, torch.ones_like(spread))


def split_episodes(transitions: Transitions, validation_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of training and validation transitions; whole episodes are held out."""
    episodes = np.unique(transitions.episode_ids)
    if episodes.size < 2:
        raise DataError(
            f"the data holds {episodes.size} episode(s); at least 2 are needed to hold out validation episodes"
        )
    held_out = max(1, round(validation_fraction * episodes.size))
    shuffled = np.random.default_rng(seed).permutation(episodes)
    validation = np.isin(transitions.episode_ids, shuffled[:held_out])
    return np.flatnonzero(~validation), np.flatnonzero(validation)
