"""ObjectPushing-v0 with obstacles: placement in the way of a straight push, info, metadata, render, contact
flags, determinism, the reset round trip and rejected options."""

import math

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from scenes import PUSHING, object_at_origin_state

import envs  # noqa: F401
from envs.errors import EnvOptionsError
from envs.obstacles import (
    OBSTACLE_CLEARANCE,
    OBSTACLE_RADIUS,
    PASSAGE,
    PATH_POSES,
    point_distance,
    regular_polygon,
    segment_distance,
    separation,
)
from envs.pushing import OBSTACLE_COLOR
from envs.table import MAX_DISPLACEMENT, PUSHER_LIMIT, PUSHER_RADIUS


@pytest.mark.filterwarnings("ignore:.*symmetric and normalized")
@pytest.mark.parametrize(
    "shape, count, radius", [("box", 1, OBSTACLE_RADIUS), ("t", 3, OBSTACLE_RADIUS), ("box", 2, 4.0), ("box", 3, 2.5)]
)
def test_check_env_passes_with_obstacles(shape, count, radius):
    env = gymnasium.make(PUSHING, shape=shape, obstacles=count, obstacle_radius=radius, render_mode="rgb_array")
    check_env(
        env.unwrapped,
        skip_render_check=False,
    )


def pose_of(base, keypoints):
    return base._fit_pose(np.asarray(keypoints, dtype=np.float64), "test")


@pytest.mark.parametrize(
    "shape, count, radius",
    [
        ("box", 1, OBSTACLE_RADIUS),
        ("box", 2, OBSTACLE_RADIUS),
        ("t", 3, OBSTACLE_RADIUS),
        ("box", 2, 4.0),
        ("t", 3, 1.0),
        ("box", 3, 2.5),
    ],
)
def test_obstacles_block_the_straight_push_and_leave_start_goal_and_pusher_clear(shape, count, radius):
    env = gymnasium.make(PUSHING, shape=shape, obstacles=count, obstacle_radius=radius)
    base = env.unwrapped
    for seed in range(12):
        observation, info = env.reset(seed=seed)
        obstacles = info["obstacles"]
        assert len(obstacles) == count and not info["object_collision"] and not info["pusher_collision"]
        assert all(len(obstacle) in (3, 4, 5, 6) for obstacle in obstacles)
        for obstacle in obstacles:
            assert np.linalg.norm(obstacle - obstacle.mean(axis=0), axis=1) == pytest.approx(
                np.full(len(obstacle), radius)
            )
            assert np.abs(obstacle).max() <= PUSHER_LIMIT
            assert point_distance(obstacle, observation[:2]) >= PUSHER_RADIUS + OBSTACLE_CLEARANCE - 1e-6
        start = np.array(pose_of(base, observation[2:]))
        goal = np.array(pose_of(base, base.goal))
        goal[2] = start[2] + (goal[2] - start[2] + math.pi) % (2 * math.pi) - math.pi  # the turn, at most 45 degrees
        assert 14.0 - 1e-6 <= math.dist(start[:2], goal[:2]) <= 18.0 + 1e-6
        for pose in (start, goal):
            for polygon in base.object_polygons_at(*pose):
                assert all(separation(obstacle, polygon) >= OBSTACLE_CLEARANCE - 1e-6 for obstacle in obstacles)
        path = [
            base.object_polygons_at(*(start + (goal - start) * fraction))
            for fraction in np.linspace(0.0, 1.0, PATH_POSES)
        ]
        assert any(separation(obstacles[0], polygon) <= 0 for pose in path for polygon in pose)  # the push collides
        for first in range(count):
            for second in range(first):
                assert separation(obstacles[first], obstacles[second]) >= PASSAGE - 1e-6


def test_obstacles_are_in_the_metadata_and_the_frame():
    env = gymnasium.make(PUSHING, obstacles=2, render_mode="rgb_array")
    assert env.unwrapped.dataset_metadata()["obstacles"]["episode"] is None
    _, info = env.reset(seed=3)
    metadata = env.unwrapped.dataset_metadata()
    assert metadata["env_kwargs"] == {"shape": "box", "obstacles": 2}
    described = metadata["obstacles"]
    assert described["count"] == 2 and described["pusher"] == [0, 1] and described["pusher_radius"] == PUSHER_RADIUS
    assert described["outline"] == [[2, 3], [4, 5], [6, 7], [8, 9]]
    np.testing.assert_array_equal(np.array(described["episode"][1]), info["obstacles"][1])
    frame = env.render()
    for obstacle in info["obstacles"]:
        x, y = obstacle.mean(axis=0)
        assert tuple(frame[int(round((30 - y) * 8)), int(round((x + 30) * 8))]) == OBSTACLE_COLOR
    default = gymnasium.make(PUSHING).unwrapped
    assert "obstacles" not in default.dataset_metadata() and default.env_kwargs == {"shape": "box"}
    larger = gymnasium.make(PUSHING, obstacles=1, obstacle_radius=3).unwrapped
    assert larger.env_kwargs == {"shape": "box", "obstacles": 1, "obstacle_radius": 3.0}
    assert larger.dataset_metadata()["obstacles"]["circumradius"] == 3.0


def test_contact_flags_report_the_object_and_the_pusher_touching_an_obstacle():
    env = gymnasium.make(PUSHING)
    base = env.unwrapped
    in_front = regular_polygon(4, 2.0, (8.0, 0.0), math.pi / 4)  # a square 4 cm right of the box's right face
    _, info = env.reset(seed=0, options={"state": object_at_origin_state(env, [-7.0, 0.0]), "obstacles": [in_front]})
    assert not info["object_collision"] and not info["pusher_collision"]
    touched = []
    for _ in range(5):  # push the box right, into the square
        observation, _, _, _, info = env.step([MAX_DISPLACEMENT, 0.0])
        touched.append(info["object_collision"])
        assert not info["pusher_collision"]
    assert not touched[0] and touched[-1]
    assert base.keypoints_at(0, 0, 0).reshape(-1, 2)[:, 0].max() < observation[2::2].max() < 7.0  # stopped at it

    above = regular_polygon(4, 2.0, (0.0, 10.0), 0.0)
    _, info = env.reset(options={"state": object_at_origin_state(env, [-10.0, 10.0]), "obstacles": [above]})
    flags = []
    for _ in range(8):  # the pusher passes straight through the obstacle (it is kinematic), then leaves it
        observation, _, _, _, info = env.step([MAX_DISPLACEMENT, 0.0])
        expected = segment_distance(above, observation[:2] - [MAX_DISPLACEMENT, 0.0], observation[:2]) < PUSHER_RADIUS
        assert info["pusher_collision"] == expected and not info["object_collision"]
        flags.append(info["pusher_collision"])
    assert observation[0] == pytest.approx(10.0) and flags[2] and not flags[0] and not flags[-1]


def run(seed, actions, count=2):
    env = gymnasium.make(PUSHING, obstacles=count)
    observation, info = env.reset(seed=seed)
    observations, flags = [observation], []
    for action in actions:
        observation, _, _, _, info = env.step(action)
        observations.append(observation)
        flags.append((info["object_collision"], info["pusher_collision"]))
    return np.array(observations), info["obstacles"], env.unwrapped.goal, flags


def test_seeded_episodes_with_obstacles_are_bit_identical():
    actions = np.random.default_rng(0).uniform(-MAX_DISPLACEMENT, MAX_DISPLACEMENT, (30, 2))
    first, second, other = run(11, actions), run(11, actions), run(12, actions)
    assert first[0].tobytes() == second[0].tobytes() and first[2].tobytes() == second[2].tobytes()
    assert all(a.tobytes() == b.tobytes() for a, b in zip(first[1], second[1])) and first[3] == second[3]
    assert not np.array_equal(first[1][0], other[1][0])


def test_reset_restores_an_observation_with_its_goal_and_obstacles():
    env = gymnasium.make(PUSHING, obstacles=3)
    observation, info = env.reset(seed=5)
    goal = env.unwrapped.goal.copy()
    for action in np.random.default_rng(5).uniform(-MAX_DISPLACEMENT, MAX_DISPLACEMENT, (40, 2)):
        observation, _, _, _, info = env.step(action)
    restored, restored_info = env.reset(options={"state": observation, "goal": goal, "obstacles": info["obstacles"]})
    assert restored == pytest.approx(observation, abs=1e-4)
    assert all(np.array_equal(a, b) for a, b in zip(restored_info["obstacles"], info["obstacles"]))
    np.testing.assert_array_equal(env.unwrapped.goal, goal)


def test_a_given_start_and_goal_get_obstacles_placed_between_them_or_a_clear_error():
    env = gymnasium.make(PUSHING, obstacles=1)
    base = env.unwrapped
    far = {
        "state": object_at_origin_state(env, [-15.0, -15.0]),
        "goal": base.keypoints_at(16.0 / math.sqrt(2), 16.0 / math.sqrt(2), 0.0),
    }
    _, info = env.reset(seed=0, options=far)
    assert len(info["obstacles"]) == 1
    with pytest.raises(EnvOptionsError, match="cannot place 1 obstacle"):
        env.reset(seed=0, options={**far, "goal": base.keypoints_at(1.0, 0.0, 0.0)})


@pytest.mark.parametrize(
    "kwargs, options, message",
    [
        ({"obstacles": 4}, None, "obstacles must be a whole number from 0 to 3"),
        ({"obstacles": 1.5}, None, "obstacles must be a whole number"),
        ({"obstacles": 2, "obstacle_radius": 4.5}, None, "obstacle_radius must be from 1 to 4 cm"),
        ({"obstacles": 2, "obstacle_radius": "big"}, None, "obstacle_radius must be a number"),
        ({"obstacles": 3, "obstacle_radius": 3.0}, None, "at most 2.5 cm with 3 obstacles"),
        ({}, {"obstacles": [[[0, 0], [1, 1], [1, 0], [0, 1]]]}, "polygon 0 is not"),
        ({}, {"obstacles": [[[0, 0], [1, 0]]]}, "polygon 0 is not"),
        ({}, {"obstacles": [regular_polygon(3, 2.0, (29.0, 0.0), 0.0)]}, "beyond the walls"),
        ({}, {"obstacles": [regular_polygon(3, 1.0, (x, 12.0), 0.0) for x in (-12, -6, 0, 6)]}, "at most 3"),
        ({}, {"obstacles": 5}, "list of polygons"),
    ],
)
def test_bad_obstacle_options_raise_a_clear_error(kwargs, options, message):
    with pytest.raises(EnvOptionsError, match=message):
        gymnasium.make(PUSHING, **kwargs).reset(seed=0, options=options)
