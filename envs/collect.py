"""Transition collection: seeded (parallel) rollouts of an env's exploration policy (`envs.exploration`)
gathered into `Transitions`.

Every episode gets its own seed, derived from the base seed and the episode index
(`SeedSequence(seed, spawn_key=(episode,))`), so the data is identical for a given seed whatever
the number of worker processes.
"""

from __future__ import annotations

import math
import multiprocessing
import sys
from concurrent.futures import ProcessPoolExecutor
from contextlib import nullcontext
from functools import partial

import gymnasium
import numpy as np
from tqdm import tqdm

from envs.dataset import Transitions
from envs.errors import CollectionError, EnvOptionsError, SimulationError, UnknownEnvError
from envs.exploration import exploration_policy

NAMESPACE = "sparsedyn"
MOTION_THRESHOLD = 0.01  # cm: a transition moved the object if a goal entry changed by more than this
CHUNKS_PER_WORKER = 4  # episodes go to workers in chunks: few enough to be cheap, enough to balance load


def resolve_env_id(name: str) -> str:
    """The registered id of a sparsedyn env given as `ObjectPushing-v0` or `sparsedyn/ObjectPushing-v0`.

    Raises:
        UnknownEnvError: not a registered sparsedyn env; the message lists the available ones.
    """
    env_id = name if "/" in name else f"{NAMESPACE}/{name}"
    if not env_id.startswith(f"{NAMESPACE}/") or env_id not in gymnasium.registry:
        available = sorted(key.split("/", 1)[1] for key in gymnasium.registry if key.startswith(f"{NAMESPACE}/"))
        raise UnknownEnvError(f"unknown environment {name!r}; available: {', '.join(available)}")
    return env_id


def make_env(env_id: str, env_kwargs: dict, max_episode_steps: int) -> gymnasium.Env:
    """gymnasium.make for a sparsedyn env (full or short id), with typed errors for bad ids and arguments.

    Raises:
        UnknownEnvError: not a registered sparsedyn env.
        EnvOptionsError: the env does not take these keyword arguments, or refuses their values.
    """
    env_id = resolve_env_id(env_id)
    try:
        return gymnasium.make(env_id, max_episode_steps=max_episode_steps, **env_kwargs)
    except TypeError as exc:
        raise EnvOptionsError(f"{env_id} cannot be made with {env_kwargs}: {exc}") from exc


def _run_episodes(env_id: str, env_kwargs: dict, steps: int, seed: int, policy_class, episodes: list[int]):
    """Roll out the given episodes; a diverged episode yields None instead of its arrays."""
    env = make_env(env_id, env_kwargs, steps)
    results = []
    for episode in episodes:
        env_seed, policy_seed = np.random.SeedSequence(seed, spawn_key=(episode,)).spawn(2)
        observations = np.empty((steps + 1,) + env.observation_space.shape, dtype=np.float32)
        actions = np.empty((steps,) + env.action_space.shape, dtype=np.float32)
        try:
            observations[0], _ = env.reset(seed=int(env_seed.generate_state(1)[0]))
            policy = policy_class(env, np.random.default_rng(policy_seed))
            for t in range(steps):
                actions[t] = policy(observations[t])
                observations[t + 1], *_ = env.step(actions[t])
        except SimulationError:
            results.append(None)
        else:
            results.append((observations, actions))
    env.close()
    return results


def _pool_context():
    """Fork on Linux: workers start at once, without re-importing the caller's main module (and whatever
    heavy libraries it pulls in) and without needing an `if __name__ == "__main__"` guard; they run
    only numpy and pymunk. Elsewhere the platform's default start method."""
    return multiprocessing.get_context("fork" if sys.platform.startswith("linux") else None)


def collect_transitions(
    env_id: str,
    episodes: int,
    steps: int,
    seed: int = 0,
    workers: int = 1,
    env_kwargs: dict | None = None,
    progress: bool = False,
    policy=None,
) -> Transitions:
    """Roll out `episodes` episodes of `steps` steps with the env's exploration policy (or `policy`).

    Episodes whose simulation diverged are dropped; the metadata counts them (`episodes_dropped`)
    and records the fraction of transitions in which the goal entries (the object) moved.

    Args:
        env_id: a sparsedyn env id, full (`sparsedyn/ObjectPushing-v0`) or short (`ObjectPushing-v0`).
        episodes: number of episodes.
        steps: steps per episode (0.1 s each).
        seed: base seed; episode i resets with a seed derived from (seed, i), so the data does not depend
            on `workers`.
        workers: worker processes.
        env_kwargs: keyword arguments for the env, e.g. `{"shape": "t"}`.
        progress: show a progress bar.
        policy: a picklable policy class or factory, called as `policy(env, rng)` once per episode and the
            result with each observation (the protocol of envs.exploration); None: the env's exploration
            policy. A controller in the loop (mpc.control.aggregation) is one.

    Shapes:
        N = (episodes - dropped) * steps transitions: observations and next_observations (N, state_dim),
        actions (N, 2), episode_ids (N,).

    Raises:
        UnknownEnvError: `env_id` is not a sparsedyn env.
        EnvOptionsError: the env cannot be made with `env_kwargs`.
        CollectionError: a count is not positive, the seed is negative, or every episode diverged.
    """
    env_id = resolve_env_id(env_id)
    env_kwargs = dict(env_kwargs or {})
    for name, value in (("episodes", episodes), ("steps", steps), ("workers", workers)):
        if value < 1:
            raise CollectionError(f"{name} must be a positive integer, got {value}")
    if seed < 0:
        raise CollectionError(f"seed must be a non-negative integer, got {seed}")
    env = make_env(env_id, env_kwargs, steps)
    metadata = env.unwrapped.dataset_metadata(seed)
    env.close()

    workers = min(workers, episodes)
    chunk_size = math.ceil(episodes / (workers * CHUNKS_PER_WORKER))
    chunks = [list(range(start, min(start + chunk_size, episodes))) for start in range(0, episodes, chunk_size)]
    policy = policy or exploration_policy(env_id)
    run = partial(_run_episodes, env_id, env_kwargs, steps, seed, policy)
    pool = ProcessPoolExecutor(workers, mp_context=_pool_context()) if workers > 1 else nullcontext()
    results = []
    with tqdm(total=episodes, desc=f"collect {env_id}", unit="episode", disable=not progress) as bar, pool:
        for outcome in pool.map(run, chunks) if workers > 1 else map(run, chunks):
            results += outcome
            bar.update(len(outcome))

    kept = [(episode, arrays) for episode, arrays in enumerate(results) if arrays is not None]
    if not kept:
        raise CollectionError(f"the simulation diverged in all {episodes} episodes; no data collected")
    observations = np.concatenate([arrays[0][:-1] for _, arrays in kept])
    next_observations = np.concatenate([arrays[0][1:] for _, arrays in kept])
    goal = metadata["goal_indices"]
    moved = np.abs(next_observations[:, goal] - observations[:, goal]).max(axis=1) > MOTION_THRESHOLD
    metadata.update(
        episodes=len(kept),
        episodes_dropped=episodes - len(kept),
        steps_per_episode=steps,
        exploration=getattr(policy, "name", None) or policy.__name__,
        moved_fraction=float(moved.mean()),
    )
    return Transitions(
        observations=observations,
        actions=np.concatenate([arrays[1] for _, arrays in kept]),
        next_observations=next_observations,
        episode_ids=np.repeat([episode for episode, _ in kept], steps).astype(np.int64),
        metadata=metadata,
    )
