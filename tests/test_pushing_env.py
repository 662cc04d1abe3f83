"""ObjectPushing-v0: rigid-body pushing, tunnelling, bounds, goals and their checks (what all table envs share:
test_table_envs.py)."""

import math

import gymnasium
import numpy as np
import pytest
from scenes import PUSHING as ENV_ID
from scenes import object_at_origin_state
from scenes import points as keypoints

from envs.errors import EnvOptionsError
from envs.table import MAX_DISPLACEMENT, PUSHER_RADIUS


def distance_to_convex_polygon(point, corners):
    """Euclidean distance from a point to a convex polygon (0 inside)."""
    edges = np.roll(corners, -1, axis=0) - corners
    t = np.clip(np.sum((point - corners) * edges, axis=1) / np.sum(edges * edges, axis=1), 0, 1)
    nearest = corners + t[:, None] * edges
    normals = np.stack([edges[:, 1], -edges[:, 0]], axis=1)
    inside = np.all(np.sum((point - corners) * normals, axis=1) <= 0)
    return 0.0 if inside else float(np.linalg.norm(point - nearest, axis=1).min())


def test_off_centre_push_turns_the_object_as_a_rigid_body():
    env = gymnasium.make(ENV_ID)
    start = object_at_origin_state(env, [-7.0, 3.0])
    observation, _ = env.reset(seed=0, options={"state": start})
    for _ in range(3):
        observation, *_ = env.step([MAX_DISPLACEMENT, 0.0])
    points = keypoints(observation)
    edge = points[1] - points[0]
    assert math.atan2(edge[1], edge[0]) < -0.1  # pushed above the centre: turns clockwise
    side_lengths = np.linalg.norm(np.roll(points, -1, axis=0) - points, axis=1)
    assert side_lengths == pytest.approx(np.full(4, 8.0), abs=1e-4)


@pytest.mark.parametrize(
    "pusher, action",
    [
        ([-6.0, 0.0], [MAX_DISPLACEMENT, 0.0]),  # at a face
        ([-6.0, -6.0], [MAX_DISPLACEMENT, MAX_DISPLACEMENT]),  # at a corner, the longest step the box allows
    ],
)
def test_fast_push_never_tunnels_through_the_object(pusher, action):
    env = gymnasium.make(ENV_ID)
    observation, _ = env.reset(seed=0, options={"state": object_at_origin_state(env, pusher)})
    direction = np.array(action) / np.linalg.norm(action)
    for _ in range(6):
        observation, *_ = env.step(action)
        gap = distance_to_convex_polygon(observation[:2], keypoints(observation))
        assert gap >= PUSHER_RADIUS - 0.1  # at most the contact slop of overlap
    assert keypoints(observation).mean(axis=0) @ direction > observation[:2] @ direction + 4.0  # still ahead


def test_observations_stay_in_the_workspace_box():
    env = gymnasium.make(ENV_ID)
    rng = np.random.default_rng(1)
    for episode in range(4):
        env.reset(seed=episode)
        direction = rng.uniform(-1, 1, 2)
        for step in range(60):  # push persistently in one direction with noise, into the walls' direction
            action = np.clip(
                MAX_DISPLACEMENT * (direction + rng.normal(0, 0.5, 2)), -MAX_DISPLACEMENT, MAX_DISPLACEMENT
            )
            observation, *_ = env.step(action)
            assert env.observation_space.contains(observation), (episode, step, observation)


@pytest.mark.parametrize("heading", np.arange(8) * math.pi / 4 + 0.1)
def test_object_pushed_as_far_out_as_possible_stays_in_the_workspace_box(heading):
    env = gymnasium.make(ENV_ID)
    direction = np.array([math.cos(heading), math.sin(heading)])
    observation, _ = env.reset(seed=0, options={"state": object_at_origin_state(env, -7.5 * direction)})
    farthest = 0.0
    for _ in range(15):
        observation, *_ = env.step(MAX_DISPLACEMENT * direction / np.abs(direction).max())
        assert env.observation_space.contains(observation)
        farthest = max(farthest, np.abs(keypoints(observation)).max())
    assert farthest > 20.0  # the pusher did drive the object towards the walls


@pytest.mark.parametrize("shape", ["box", "t"])
def test_goal_option_sets_cost_and_reward(shape):
    env = gymnasium.make(ENV_ID, shape=shape)
    base = env.unwrapped
    goal = base.keypoints_at(3.0, -2.0, 0.4)
    observation, info = env.reset(seed=0, options={"goal": goal.reshape(-1, 2)})
    expected = np.linalg.norm(keypoints(observation) - goal.reshape(-1, 2), axis=1).mean()
    assert info["cost"] == pytest.approx(expected, rel=1e-6)
    observation, reward, *_, info = env.step([1.0, 0.5])
    assert reward == -info["cost"]
    assert info["cost"] == pytest.approx(
        np.linalg.norm(keypoints(observation) - goal.reshape(-1, 2), axis=1).mean(), rel=1e-6
    )

    _, info = env.reset(options={"state": observation, "goal": observation[base.goal_indices]})
    assert info["cost"] == pytest.approx(0.0, abs=1e-5)


def test_sampled_goal_is_a_nearby_rigid_move_of_the_start():
    env = gymnasium.make(ENV_ID)
    base = env.unwrapped
    for seed in range(20):
        observation, _ = env.reset(seed=seed)
        start, goal = keypoints(observation).astype(np.float64), base.goal.reshape(-1, 2)
        start_centre, goal_centre = start.mean(axis=0), goal.mean(axis=0)
        assert np.linalg.norm(goal_centre - start_centre) <= 8.0 + 1e-6
        assert np.abs(goal_centre).max() <= 10.0 + 1e-6
        start_edge, goal_edge = start[1] - start[0], goal[1] - goal[0]
        turn = math.atan2(start_edge[0] * goal_edge[1] - start_edge[1] * goal_edge[0], np.dot(start_edge, goal_edge))
        assert abs(turn) <= math.pi / 4 + 1e-6
        assert np.linalg.norm(goal_edge) == pytest.approx(np.linalg.norm(start_edge), abs=1e-4)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"goal": np.zeros(3)}, "goal must hold 8 finite numbers"),
        ({"goal": np.arange(8.0)}, "not those of the object"),
        ({"state": np.concatenate([[0.0, 0.0], np.zeros(8)])}, "not those of the object"),
        ({"state": np.concatenate([[0.0, 0.0], np.full(8, 31.0)])}, "keypoints lie outside"),
    ],
)
def test_bad_reset_options_raise_a_clear_error(options, message):
    env = gymnasium.make(ENV_ID)
    with pytest.raises(EnvOptionsError, match=message):
        env.reset(seed=0, options=options)


def test_state_with_pusher_inside_the_object_is_rejected():
    env = gymnasium.make(ENV_ID)
    with pytest.raises(EnvOptionsError, match="overlaps"):
        env.reset(options={"state": object_at_origin_state(env, [3.5, 0.0])})
    with pytest.raises(EnvOptionsError, match="outside"):
        env.reset(options={"state": object_at_origin_state(env, [18.0, 0.0])})
    with pytest.raises(EnvOptionsError, match="walls"):
        env.reset(options={"state": np.concatenate([[0.0, 0.0], env.unwrapped.keypoints_at(25.8, 0.0, 0.0)])})


def test_unknown_shape_is_rejected():
    with pytest.raises(EnvOptionsError, match="unknown object shape"):
        gymnasium.make(ENV_ID, shape="sphere")
