"""Start states for the table env tests (positions in cm), shared by test_table_envs.py and the per-env files."""

import numpy as np

PUSHING = "sparsedyn/ObjectPushing-v0"
SORTING = "sparsedyn/ObjectSorting-v0"
ROPE = "sparsedyn/RopeShaping-v0"
FAR = [[-12.0, 12.0], [12.0, 12.0], [12.0, -12.0], [-12.0, -12.0]]  # discs out of the way of pushes along y = 0


def object_at_origin_state(env, pusher):
    """Pushing observation vector: the object centred at the origin, unrotated, pusher at the given point."""
    return np.concatenate([pusher, env.unwrapped.keypoints_at(0.0, 0.0, 0.0)])


def state(pusher, *positions):
    """Sorting observation vector: the pusher and the disc centres."""
    return np.concatenate([pusher, np.ravel(positions)])


def rope_centres(num_particles, angle=0.0, centre=(0.0, 0.0)):
    """Particles (N, 2) of a straight rope of N segments pointing along `angle`, centred at `centre`."""
    from envs.rope import chain_centres

    centres = chain_centres(np.zeros(2), np.full(num_particles, angle))
    return centres - centres.mean(axis=0) + centre


def points(observation):
    """The object part of an observation as points (n, 2): the keypoints, the disc centres or the particles."""
    return observation[2:].reshape(-1, 2)
