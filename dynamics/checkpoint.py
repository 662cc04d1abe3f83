"""Model checkpoints: one torch file with the model, the data's env metadata and training facts.

Layout of the saved dict:
    format      "sparsedyn-dynamics"
    model       {"class": model class name, "config": constructor kwargs, "state": state_dict}
    metadata    the transition file's metadata (env_id, workspace and action boxes, ...)
    info        kind counts (in total and per network), validation metrics, training arguments,
                progress; for a graph model also "graph": the number of objects trained with and
                that the model runs on any number of objects
    training    optimizer and random-number state to resume an unfinished run, else None
    data_ranges the pre-activation ranges of the model's frozen export on its data (dynamics.ranges:
                `DataRanges.to_dict`), or None; older checkpoints lack the key and load without them

Files are written atomically (temporary file in the same directory, then rename) and read with
`weights_only=True`, so loading never executes code from the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from dynamics.errors import CheckpointError
from dynamics.evaluate import finite_rollouts
from dynamics.graph import GraphDynamics
from dynamics.mlp import MLPDynamics
from dynamics.ranges import DataRanges
from envs.dataset import REQUIRED_METADATA
from envs.files import write_atomically

FORMAT = "sparsedyn-dynamics"
MODEL_CLASSES = {"MLPDynamics": MLPDynamics, "GraphDynamics": GraphDynamics}


@dataclass
class Checkpoint:
    """What a checkpoint file holds (see the module docstring for the layout).

    Args:
        model: an `MLPDynamics` or `GraphDynamics`, in eval mode (hard gates); its `data_ranges` as saved.
        metadata: the training data's metadata (env id, state layout, units, action and workspace boxes, ...).
        info: kind counts, validation metrics, training options and progress, as `sparsedyn inspect` shows them.
        training: optimizer and random-number state of an unfinished run, else None.
    """

    model: nn.Module  # in eval mode: hard gates
    metadata: dict
    info: dict
    training: dict | None = None


def save_checkpoint(
    path: str | Path, model: nn.Module, metadata: dict, info: dict, training: dict | None = None
) -> None:
    """Write a checkpoint atomically: a crash never leaves a half-written file at `path` (see envs.files).

    Args:
        path: the file to write (replaced if it exists).
        model: an `MLPDynamics` or `GraphDynamics`; its `data_ranges` (dynamics.ranges), if any, are saved too.
        metadata, info, training: as in `Checkpoint`.

    Raises:
        CheckpointError: `path` is a directory, or its directory does not exist or is not writable.
    """
    content = {
        "format": FORMAT,
        "model": {"class": type(model).__name__, "config": model.config(), "state": model.state_dict()},
        "metadata": metadata,
        "info": info,
        "training": training,
    }
    ranges = getattr(model, "data_ranges", None)
    if ranges is not None:
        content["data_ranges"] = ranges.to_dict()
    write_atomically(path, lambda file: torch.save(content, file), CheckpointError)


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read a checkpoint written by `save_checkpoint` (or `sparsedyn train`); never executes code from the file.

    Raises:
        CheckpointError: the file is missing, unreadable, not a sparsedyn checkpoint, or holds a model this
            version cannot rebuild; one clear message.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"model file {path} does not exist")
    try:
        content = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # zip, pickle and truncation errors all mean the same to a user
        raise CheckpointError(
            f"{path} is not a readable sparsedyn model checkpoint ({exc.__class__.__name__})"
        ) from exc
    if not isinstance(content, dict) or content.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a sparsedyn model checkpoint")
    try:
        model_class = MODEL_CLASSES[content["model"]["class"]]
        model = model_class(**content["model"]["config"])
        model.load_state_dict(content["model"]["state"])
    except (KeyError, TypeError, RuntimeError) as exc:
        raise CheckpointError(f"{path} holds a model this version cannot rebuild ({exc.__class__.__name__})") from exc
    if content.get("data_ranges") is not None:
        try:
            model.data_ranges = DataRanges.from_dict(content["data_ranges"])
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise CheckpointError(
                f"{path} holds data ranges this version cannot read ({exc.__class__.__name__})"
            ) from exc
    return Checkpoint(
        model=model.eval(), metadata=content["metadata"], info=content["info"], training=content["training"]
    )


def check_usable(checkpoint: Checkpoint, path: str | Path, steps: int, metadata: dict | None = None) -> None:
    """Refuse a checkpoint no command can run: one without the env metadata `sparsedyn train` records, or
    one whose model does not predict finite states (`dynamics.evaluate.finite_rollouts`).

    Args:
        checkpoint: as `load_checkpoint` returns it.
        path: its file, for the message.
        steps: the horizon the model will be rolled out over (a planning horizon, the validation rollout).
        metadata: the env metadata to check the rollouts in (its workspace and action boxes), e.g. the
            checkpoint's env with other options; None: the checkpoint's own.

    Raises:
        CheckpointError: metadata entries are missing, or rollouts of `steps` steps from the workspace box
            become non-finite.
    """
    missing = [key for key in REQUIRED_METADATA if key not in checkpoint.metadata]
    if missing:
        raise CheckpointError(
            f"{path} holds a model but not the facts `sparsedyn train` records ({', '.join(missing)} missing)"
        )
    if not finite_rollouts(checkpoint.model, checkpoint.metadata if metadata is None else metadata, steps):
        raise CheckpointError(
            f"{path} holds a model whose predictions are not finite: {steps}-step rollouts "
            "from its workspace box overflow (its training diverged); train it again, e.g. "
            "with a lower --lr"
        )
