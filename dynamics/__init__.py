"""Sparse ReLU dynamics models: training, sparsification, checkpoints and the frozen export.

The public names are re-exported here. All but the errors and `TrainConfig` load their module on
first use (PEP 562): most pull in torch, and importing the package runs on every import of one of
its modules, such as `dynamics.errors` and `dynamics.config` for the CLI's `--help`.

`rollout` is the torch rollout of a model (`dynamics.evaluate.rollout`); `frozen_rollout` the numpy
rollout of a frozen network or graph (`dynamics.frozen.rollout`). The training function itself is
`dynamics.train.train`: the name `dynamics.train` is the module.
"""

from dynamics.config import TrainConfig
from dynamics.errors import CheckpointError, DataError, DeviceError, DynamicsError, ModelConfigError, TrainingError
from envs.exports import lazy_exports

_LAZY = {  # public name -> "module" that defines it, or "module:name there"
    "Checkpoint": "dynamics.checkpoint",
    "load_checkpoint": "dynamics.checkpoint",
    "save_checkpoint": "dynamics.checkpoint",
    "MLPDynamics": "dynamics.mlp",
    "GraphDynamics": "dynamics.graph",
    "DisagreementDynamics": "dynamics.disagreement",
    "NeuronKind": "dynamics.gates",
    "count_kinds": "dynamics.gates",
    "FrozenLayer": "dynamics.frozen",
    "FrozenNetwork": "dynamics.frozen",
    "FrozenGraph": "dynamics.frozen",
    "frozen_rollout": "dynamics.frozen:rollout",
    "rollout": "dynamics.evaluate",
    "prediction_errors": "dynamics.evaluate",
    "resolve_device": "dynamics.device",
}

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)

__all__ = [
    "CheckpointError",
    "DataError",
    "DeviceError",
    "DynamicsError",
    "ModelConfigError",
    "TrainConfig",
    "TrainingError",
    *_LAZY,
]
