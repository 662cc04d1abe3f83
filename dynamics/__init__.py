"""Sparse ReLU dynamics models: training, sparsification, checkpoints and the frozen export.

The public names are re-exported here. Those that pull in torch (the models, checkpoints, the torch
rollout, `train`'s machinery) load their module on first use (PEP 562), so that importing
`dynamics.errors` or `dynamics.config`, as the CLI does for `--help`, stays cheap.

`rollout` is the torch rollout of a model (`dynamics.evaluate.rollout`); `frozen_rollout` the numpy
rollout of a frozen network or graph (`dynamics.frozen.rollout`). The training function itself is
`dynamics.train.train`: the name `dynamics.train` is the module.
"""

import importlib

from dynamics.config import TrainConfig
from dynamics.errors import CheckpointError, DataError, DynamicsError, ModelConfigError, TrainingError

_LAZY = {  # public name -> (module, name there)
    "Checkpoint": ("dynamics.checkpoint", "Checkpoint"),
    "load_checkpoint": ("dynamics.checkpoint", "load_checkpoint"),
    "save_checkpoint": ("dynamics.checkpoint", "save_checkpoint"),
    "MLPDynamics": ("dynamics.mlp", "MLPDynamics"),
    "GraphDynamics": ("dynamics.graph", "GraphDynamics"),
    "NeuronKind": ("dynamics.gates", "NeuronKind"),
    "count_kinds": ("dynamics.gates", "count_kinds"),
    "FrozenLayer": ("dynamics.frozen", "FrozenLayer"),
    "FrozenNetwork": ("dynamics.frozen", "FrozenNetwork"),
    "FrozenGraph": ("dynamics.frozen", "FrozenGraph"),
    "frozen_rollout": ("dynamics.frozen", "rollout"),
    "rollout": ("dynamics.evaluate", "rollout"),
    "prediction_errors": ("dynamics.evaluate", "prediction_errors"),
}


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, attribute = _LAZY[name]
    value = globals()[name] = getattr(importlib.import_module(module), attribute)
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


__all__ = [
    "CheckpointError",
    "DataError",
    "DynamicsError",
    "ModelConfigError",
    "TrainConfig",
    "TrainingError",
    *_LAZY,
]
