"""The sparsedyn environments as gymnasium knows them: id, entry point and episode limit.

`import envs` calls `register_with_gymnasium`, which registers the environments at once if gymnasium
is loaded and otherwise right after gymnasium loads: either way they are registered before any
`gymnasium.make` can run, and importing `envs` (the CLI's `--help` does) loads neither gymnasium
nor the simulator. gymnasium imports an env's module when the env is first made.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys

PUSHING_ID = "sparsedyn/ObjectPushing-v0"
SORTING_ID = "sparsedyn/ObjectSorting-v0"

# id -> (entry point, max_episode_steps of gymnasium.make's TimeLimit wrapper)
ENVIRONMENTS = {
    PUSHING_ID: ("envs.pushing:ObjectPushingEnv", 60),
    SORTING_ID: ("envs.sorting:ObjectSortingEnv", 100),
}


def register_environments() -> None:
    """Register every sparsedyn environment with gymnasium (again: no-op)."""
    import gymnasium

    for env_id, (entry_point, max_episode_steps) in ENVIRONMENTS.items():
        if env_id not in gymnasium.registry:
            gymnasium.register(id=env_id, entry_point=entry_point, max_episode_steps=max_episode_steps)


def register_with_gymnasium() -> None:
    """Register the environments now if gymnasium is loaded, else as soon as it has loaded."""
    if "gymnasium" in sys.modules:
        register_environments()
    elif not any(isinstance(finder, _RegisterAfterGymnasium) for finder in sys.meta_path):
        sys.meta_path.insert(0, _RegisterAfterGymnasium())


class _RegisterAfterGymnasium(importlib.abc.MetaPathFinder):
    """Finds gymnasium the usual way, and makes its loader register the environments after loading it."""

    def find_spec(self, fullname, path, target=None):
        if fullname != "gymnasium":
            return None
        sys.meta_path.remove(self)  # once is enough; also keeps find_spec below from coming back here
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            exec_module = spec.loader.exec_module

            def exec_then_register(module) -> None:
                exec_module(module)
                register_environments()

            spec.loader.exec_module = exec_then_register
        return spec
