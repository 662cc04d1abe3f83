"""Transition data files: the seam between the simulators and the dynamics models.

A file is a `.npz` archive with four arrays and one metadata dict:

    observations       (N, state_dim)  float32, state before the action
    actions            (N, action_dim) float32
    next_observations  (N, state_dim)  float32, state after the action
    episode_ids        (N,)            int64, which episode each transition belongs to
    metadata           JSON string (0-d array), keys listed in REQUIRED_METADATA

Metadata keys:
    env_id          gymnasium id, e.g. "sparsedyn/ObjectPushing-v0"
    env_kwargs      keyword arguments the env was made with
    state_layout    one name per state entry, e.g. ["pusher_x", "pusher_y", ...]
    units           dict: quantity -> unit, e.g. {"position": "cm"}
    action_low, action_high        action box, one value per action entry
    workspace_low, workspace_high  box holding every state entry
    goal_indices    state entries the task cost compares with the goal
    seed            seed the data was collected with
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from envs.errors import DatasetError
from envs.files import write_atomically

ARRAYS = ("observations", "actions", "next_observations", "episode_ids")
REQUIRED_METADATA = (
    "env_id",
    "env_kwargs",
    "state_layout",
    "units",
    "action_low",
    "action_high",
    "workspace_low",
    "workspace_high",
    "goal_indices",
    "seed",
)


@dataclass
class Transitions:
    """Transitions of one or more episodes with the metadata describing them (units: see `metadata["units"]`).

    Shapes:
        observations, next_observations: (N, state_dim); actions: (N, action_dim); episode_ids: (N,).

    Raises:
        DatasetError: on construction, if there are no transitions, or shapes, values and metadata disagree
            (see `validate`).
    """

    observations: np.ndarray
    actions: np.ndarray
    next_observations: np.ndarray
    episode_ids: np.ndarray
    metadata: dict

    def __post_init__(self) -> None:
        self.validate()

    @property
    def state_dim(self) -> int:
        return self.observations.shape[1]

    @property
    def action_dim(self) -> int:
        return self.actions.shape[1]

    def __len__(self) -> int:
        return self.observations.shape[0]

    def validate(self) -> None:
        """Raise DatasetError unless there are transitions and shapes, values and metadata agree."""
        missing = [key for key in REQUIRED_METADATA if key not in self.metadata]
        if missing:
            raise DatasetError(f"metadata lacks {', '.join(missing)}")
        n = self.observations.shape[0]
        if n == 0:
            raise DatasetError("there are no transitions")
        if self.observations.ndim != 2 or self.next_observations.shape != self.observations.shape:
            raise DatasetError("observations and next_observations must be (N, state_dim) arrays of one shape")
        if self.actions.ndim != 2 or self.actions.shape[0] != n or self.episode_ids.shape != (n,):
            raise DatasetError("actions must be (N, action_dim) and episode_ids (N,) for the same N")
        if len(self.metadata["state_layout"]) != self.observations.shape[1]:
            raise DatasetError("state_layout does not match the observation width")
        for key, width in (
            ("action_low", self.actions.shape[1]),
            ("action_high", self.actions.shape[1]),
            ("workspace_low", self.observations.shape[1]),
            ("workspace_high", self.observations.shape[1]),
        ):
            if len(self.metadata[key]) != width:
                raise DatasetError(f"metadata {key} has {len(self.metadata[key])} entries, expected {width}")
        for name in ("observations", "actions", "next_observations"):
            if not np.all(np.isfinite(getattr(self, name))):
                raise DatasetError(f"{name} holds non-finite values")

    def save(self, path: str | Path) -> None:
        """Write the transitions as a `.npz` file at `path` (as given, no suffix added), atomically: a crash
        never leaves a half-written file (see envs.files).

        Raises:
            DatasetError: `path` is a directory, or its directory does not exist or is not writable.
        """
        arrays = {
            "observations": self.observations.astype(np.float32),
            "actions": self.actions.astype(np.float32),
            "next_observations": self.next_observations.astype(np.float32),
            "episode_ids": self.episode_ids.astype(np.int64),
            "metadata": np.array(json.dumps(self.metadata)),
        }
        write_atomically(path, lambda file: np.savez_compressed(file, **arrays), DatasetError)


SAME_SYSTEM = (
    "env_id",
    "env_kwargs",
    "state_layout",
    "action_low",
    "action_high",
    "workspace_low",
    "workspace_high",
    "goal_indices",
)  # metadata that must agree for transition files to be trained on together


def concatenate_transitions(parts: list[Transitions]) -> Transitions:
    """Several transition files of one system as one: e.g. exploration data and controller-visited data.

    Episode ids are renumbered so that episodes of different parts never share an id. The metadata is
    the first part's, with "episodes" summed and "parts" listing each part's seed, episodes and
    collection policy.

    Raises:
        DatasetError: no parts, or the parts come from different systems (a SAME_SYSTEM entry differs).
    """
    if not parts:
        raise DatasetError("no transition files given")
    first = parts[0].metadata
    for index, part in enumerate(parts[1:], start=1):
        differing = [key for key in SAME_SYSTEM if part.metadata.get(key) != first.get(key)]
        if differing:
            raise DatasetError(
                f"transition file {index + 1} comes from another system than the first ({', '.join(differing)} differ)"
            )
    if len(parts) == 1:
        return parts[0]
    episode_ids, offset = [], 0
    for part in parts:
        _, renumbered = np.unique(part.episode_ids, return_inverse=True)
        episode_ids.append(renumbered + offset)
        offset += int(renumbered.max()) + 1
    metadata = dict(
        first,
        episodes=offset,
        parts=[{key: part.metadata.get(key) for key in ("seed", "episodes", "exploration")} for part in parts],
    )
    return Transitions(
        observations=np.concatenate([part.observations for part in parts]),
        actions=np.concatenate([part.actions for part in parts]),
        next_observations=np.concatenate([part.next_observations for part in parts]),
        episode_ids=np.concatenate(episode_ids).astype(np.int64),
        metadata=metadata,
    )


def load_transitions(path: str | Path) -> Transitions:
    """Read a transition file written by `Transitions.save`.

    Raises:
        DatasetError: the file is missing, not a readable `.npz` archive, lacks an array or the metadata, holds
            no transitions, or its arrays and metadata disagree; one clear message naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"data file {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [key for key in ARRAYS + ("metadata",) if key not in archive.files]
            if missing:
                raise DatasetError(f"{path} is not a sparsedyn transition file (missing {', '.join(missing)})")
            arrays = {key: archive[key] for key in ARRAYS}
            metadata = json.loads(str(archive["metadata"]))
    except DatasetError:
        raise
    except Exception as exc:  # zipfile, pickle and JSON errors all mean the same to a user
        raise DatasetError(f"{path} is not a readable .npz transition file ({exc.__class__.__name__})") from exc
    try:
        return Transitions(metadata=metadata, **arrays)
    except DatasetError as exc:
        raise DatasetError(f"{path}: {exc}") from None
