"""A tiny piecewise-linear pushing system: transition data for tests without a physics simulator.

On a line from 0 to 10 (cm), a pusher moves by the action (clipped to the line) and pushes an
object of radius 1 ahead of it to the right; the object never moves on its own:

    pusher' = clip(pusher + action, 0, 10)
    object' = object + max(0, pusher' + 1 - object)

State layout [pusher_x, object_x], action [dx] in [-1, 1].
"""

from __future__ import annotations

import numpy as np

from envs.dataset import Transitions

ENV_ID = "sparsedyn/ToyPushing1D"


def toy_step(states: np.ndarray, actions: np.ndarray) -> np.ndarray:
    pusher = np.clip(states[:, 0] + actions[:, 0], 0.0, 10.0)
    obj = states[:, 1] + np.maximum(0.0, pusher + 1.0 - states[:, 1])
    return np.stack([pusher, obj], axis=1)


def toy_transitions(episodes: int = 20, steps: int = 25, seed: int = 0) -> Transitions:
    """Random-action episodes, the object starting to the right of the pusher; rows grouped by episode."""
    rng = np.random.default_rng(seed)
    pusher = rng.uniform(0.0, 4.0, episodes)
    state = np.stack([pusher, pusher + rng.uniform(1.0, 4.0, episodes)], axis=1)
    observations, actions, next_observations = [], [], []
    for _ in range(steps):
        action = rng.uniform(-1.0, 1.0, (episodes, 1))
        next_state = toy_step(state, action)
        observations.append(state)
        actions.append(action)
        next_observations.append(next_state)
        state = next_state

    def by_episode(rows: list) -> np.ndarray:
        return np.stack(rows, axis=1).reshape(episodes * steps, -1).astype(np.float32)

    return Transitions(
        observations=by_episode(observations),
        actions=by_episode(actions),
        next_observations=by_episode(next_observations),
        episode_ids=np.repeat(np.arange(episodes), steps),
        metadata={
            "env_id": ENV_ID,
            "env_kwargs": {},
            "state_layout": ["pusher_x", "object_x"],
            "units": {"position": "cm"},
            "action_low": [-1.0],
            "action_high": [1.0],
            "workspace_low": [0.0, 0.0],
            "workspace_high": [10.0, 11.0],
            "goal_indices": [1],
            "seed": seed,
        },
    )
