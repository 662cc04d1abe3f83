"""Gymnasium environments on pymunk and transition data collection.

`import envs` registers the environments, e.g. `gymnasium.make("sparsedyn/ObjectPushing-v0")` and
`gymnasium.make("sparsedyn/ObjectSorting-v0", num_objects=4, num_classes=2)`.
"""

import gymnasium

from envs import pushing, sorting
from envs.collect import collect_transitions
from envs.dataset import REQUIRED_METADATA, Transitions, load_transitions
from envs.errors import (CollectionError, DatasetError, EnvOptionsError, EnvsError, OutputPathError, SimulationError,
                         UnknownEnvError)
from envs.files import check_writable, write_atomically
from envs.pushing import ObjectPushingEnv
from envs.sorting import ObjectSortingEnv
from envs.table import TableEnv

for module, entry_point in ((pushing, "envs.pushing:ObjectPushingEnv"), (sorting, "envs.sorting:ObjectSortingEnv")):
    if module.ENV_ID not in gymnasium.registry:
        gymnasium.register(id=module.ENV_ID, entry_point=entry_point, max_episode_steps=module.MAX_EPISODE_STEPS)

__all__ = [
    "REQUIRED_METADATA",
    "CollectionError",
    "DatasetError",
    "EnvOptionsError",
    "EnvsError",
    "ObjectPushingEnv",
    "ObjectSortingEnv",
    "OutputPathError",
    "SimulationError",
    "TableEnv",
    "Transitions",
    "UnknownEnvError",
    "check_writable",
    "collect_transitions",
    "load_transitions",
    "write_atomically",
]
