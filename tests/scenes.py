"""Start states for the table env tests (positions in cm), shared by test_table_envs.py and the per-env files."""

import numpy as np

PUSHING = "sparsedyn/ObjectPushing-v0"
SORTING = "sparsedyn/ObjectSorting-v0"
FAR = [[-12.0, 12.0], [12.0, 12.0], [12.0, -12.0], [-12.0, -12.0]]  # discs out of the way of pushes along y = 0


def object_at_origin_state(env, pusher):
    """Pushing observation vector: the object centred at the origin, unrotated, pusher at the given point."""
    return np.concatenate([pusher, env.unwrapped.keypoints_at(0.0, 0.0, 0.0)])


def state(pusher, *positions):
    """Sorting observation vector: the pusher and the disc centres."""
    return np.concatenate([pusher, np.ravel(positions)])


def points(observation):
    """The object part of an observation as points (n, 2): the keypoints or the disc centres."""
    return observation[2:].reshape(-1, 2)
