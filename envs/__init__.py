"""Gymnasium environments on pymunk and transition data collection.

`import envs` registers the environments, e.g. `gymnasium.make("sparsedyn/ObjectPushing-v0")` and
`gymnasium.make("sparsedyn/ObjectSorting-v0", num_objects=4, num_classes=2)`.

Importing the package loads neither gymnasium nor the simulator (see `envs.registration`): the names
below other than the errors load their module on first use (PEP 562), so that importing `envs.cli` or
`envs.errors` stays cheap.
"""

from envs.errors import CollectionError, DatasetError, EnvOptionsError, EnvsError, SimulationError, UnknownEnvError
from envs.exports import lazy_exports
from envs.registration import register_with_gymnasium

register_with_gymnasium()

_LAZY = {  # public name -> the module that defines it
    "REQUIRED_METADATA": "envs.dataset",
    "Transitions": "envs.dataset",
    "load_transitions": "envs.dataset",
    "collect_transitions": "envs.collect",
    "ObjectPushingEnv": "envs.pushing",
    "ObjectSortingEnv": "envs.sorting",
}

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)

__all__ = [
    "CollectionError",
    "DatasetError",
    "EnvOptionsError",
    "EnvsError",
    "SimulationError",
    "UnknownEnvError",
    *_LAZY,
]
