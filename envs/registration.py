"""The sparsedyn environments as gymnasium knows them: id, entry point and episode limit.

`import envs` calls `register_environments`. gymnasium imports an env's module (and pymunk) only
when the env is first made.
"""

from __future__ import annotations

PUSHING_ID = "sparsedyn/ObjectPushing-v0"
SORTING_ID = "sparsedyn/ObjectSorting-v0"
ROPE_ID = "sparsedyn/RopeShaping-v0"

# id -> (entry point, max_episode_steps of gymnasium.make's TimeLimit wrapper)
ENVIRONMENTS = {
    PUSHING_ID: ("envs.pushing:ObjectPushingEnv", 60),
    SORTING_ID: ("envs.sorting:ObjectSortingEnv", 100),
    ROPE_ID: ("envs.rope:RopeShapingEnv", 100),
}


def register_environments() -> None:
    """Register every sparsedyn environment with gymnasium (again: no-op)."""
    import gymnasium

    for env_id, (entry_point, max_episode_steps) in ENVIRONMENTS.items():
        if env_id not in gymnasium.registry:
            gymnasium.register(id=env_id, entry_point=entry_point, max_episode_steps=max_episode_steps)
