"""Gymnasium environments on pymunk and transition data collection.

`import envs` registers the environments, e.g. `gymnasium.make("sparsedyn/ObjectPushing-v0")`.
"""

import gymnasium

from envs import pushing
from envs.collect import collect_transitions
from envs.dataset import REQUIRED_METADATA, Transitions, load_transitions
from envs.errors import CollectionError, DatasetError, EnvOptionsError, EnvsError, SimulationError, UnknownEnvError
from envs.pushing import ObjectPushingEnv

if pushing.ENV_ID not in gymnasium.registry:
    gymnasium.register(
        id=pushing.ENV_ID, entry_point="envs.pushing:ObjectPushingEnv", max_episode_steps=pushing.MAX_EPISODE_STEPS
    )

__all__ = [
    "REQUIRED_METADATA",
    "CollectionError",
    "DatasetError",
    "EnvOptionsError",
    "EnvsError",
    "ObjectPushingEnv",
    "SimulationError",
    "Transitions",
    "UnknownEnvError",
    "collect_transitions",
    "load_transitions",
]
