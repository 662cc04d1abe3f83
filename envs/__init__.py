"""Gymnasium environments on pymunk and transition data collection.

`import envs` registers the environments, e.g. `gymnasium.make("sparsedyn/ObjectPushing-v0")`,
`gymnasium.make("sparsedyn/ObjectSorting-v0", num_objects=4, num_classes=2)` and
`gymnasium.make("sparsedyn/RopeShaping-v0", num_particles=10)` (envs.registration).

Importing the package loads gymnasium's registry but not the simulator: the public names below other
than the errors and the file helpers load their module on first use (PEP 562), so that importing
`envs.cli` or `envs.errors` (the CLI's `--help` does) stays cheap.
"""

from envs.errors import (
    CollectionError,
    DatasetError,
    EnvOptionsError,
    EnvsError,
    OutputPathError,
    SimulationError,
    UnknownEnvError,
)
from envs.exports import lazy_exports
from envs.files import check_writable, write_atomically
from envs.registration import register_environments

register_environments()

_LAZY = {  # public name -> the module that defines it
    "REQUIRED_METADATA": "envs.dataset",
    "Transitions": "envs.dataset",
    "load_transitions": "envs.dataset",
    "collect_transitions": "envs.collect",
    "TableEnv": "envs.table",
    "ObjectPushingEnv": "envs.pushing",
    "ObjectSortingEnv": "envs.sorting",
    "RopeShapingEnv": "envs.rope",
}

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)

__all__ = [
    "CollectionError",
    "DatasetError",
    "EnvOptionsError",
    "EnvsError",
    "OutputPathError",
    "SimulationError",
    "UnknownEnvError",
    "check_writable",
    "write_atomically",
    *_LAZY,
]
