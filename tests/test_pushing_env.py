"""ObjectPushing-v0: gymnasium contract, determinism, contact physics, goals, bounds, rendering."""

import json
import math

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import envs
from envs.dataset import REQUIRED_METADATA
from envs.errors import EnvOptionsError, SimulationError
from envs.pushing import ObjectPushingEnv
from envs.table import MAX_DISPLACEMENT, PUSHER_RADIUS

ENV_ID = "sparsedyn/ObjectPushing-v0"


def object_at_origin_state(env, pusher):
    """Observation vector: the object centred at the origin, unrotated, pusher at the given point."""
    return np.concatenate([pusher, env.unwrapped.keypoints_at(0.0, 0.0, 0.0)])


def keypoints(observation):
    return observation[2:].reshape(-1, 2)


def distance_to_convex_polygon(point, corners):
    """Euclidean distance from a point to a convex polygon (0 inside)."""
    edges = np.roll(corners, -1, axis=0) - corners
    t = np.clip(np.sum((point - corners) * edges, axis=1) / np.sum(edges * edges, axis=1), 0, 1)
    nearest = corners + t[:, None] * edges
    normals = np.stack([edges[:, 1], -edges[:, 0]], axis=1)
    inside = np.all(np.sum((point - corners) * normals, axis=1) <= 0)
    return 0.0 if inside else float(np.linalg.norm(point - nearest, axis=1).min())


@pytest.mark.filterwarnings("ignore:.*symmetric and normalized")  # actions are displacements in cm, on purpose
@pytest.mark.parametrize("shape", ["box", "t"])
def test_check_env_passes(shape):
    env = gymnasium.make(ENV_ID, shape=shape, render_mode="rgb_array")
    check_env(env.unwrapped, skip_render_check=False)


def test_registered_with_documented_spaces_and_time_limit():
    env = gymnasium.make(ENV_ID)
    base = env.unwrapped
    assert isinstance(base, ObjectPushingEnv)
    assert env.observation_space.shape == (len(base.state_layout),) == (10,)
    assert np.array_equal(env.observation_space.low, base.workspace_low)
    assert np.array_equal(env.observation_space.high, base.workspace_high)
    assert np.all(env.action_space.high == MAX_DISPLACEMENT) and np.all(env.action_space.low == -MAX_DISPLACEMENT)
    assert [base.state_layout[i] for i in base.goal_indices] == [f"keypoint{i}_{a}" for i in range(4) for a in "xy"]
    env.reset(seed=0)
    steps, truncated = 0, False
    while not truncated:
        _, _, terminated, truncated, _ = env.step(np.zeros(2))
        assert not terminated
        steps += 1
    assert steps == env.spec.max_episode_steps


def rollout(seed, actions, **kwargs):
    env = gymnasium.make(ENV_ID, **kwargs)
    observation, _ = env.reset(seed=seed)
    observations = [observation]
    for action in actions:
        observations.append(env.step(action)[0])
    return np.array(observations), env.unwrapped.goal


@pytest.mark.parametrize("shape", ["box", "t"])
def test_same_seed_and_actions_give_identical_trajectories(shape):
    actions = np.random.default_rng(0).uniform(-MAX_DISPLACEMENT, MAX_DISPLACEMENT, (40, 2))
    first, first_goal = rollout(3, actions, shape=shape)
    second, second_goal = rollout(3, actions, shape=shape)
    assert first.tobytes() == second.tobytes() and first_goal.tobytes() == second_goal.tobytes()
    other, _ = rollout(4, actions, shape=shape)
    assert not np.array_equal(first[0], other[0])


def test_push_aimed_at_object_moves_it_and_push_away_does_not():
    env = gymnasium.make(ENV_ID)
    start = object_at_origin_state(env, [-7.0, 0.0])  # left face at x = -4

    observation, _ = env.reset(seed=0, options={"state": start})
    for _ in range(4):  # 10 cm to the right: 2 cm free, 8 cm in contact
        observation, *_ = env.step([MAX_DISPLACEMENT, 0.0])
    shift = keypoints(observation) - keypoints(start)
    assert shift[:, 0] == pytest.approx(np.full(4, 8.0), abs=0.5)  # travels with the pusher, minus the gap
    assert np.abs(shift[:, 1]).max() < 0.05  # a centred push does not turn it
    settled, *_ = env.step([0.0, 0.0])
    assert np.array_equal(keypoints(settled), keypoints(observation))  # quasi-static: stops when contact ends

    observation, _ = env.reset(seed=0, options={"state": start})
    for _ in range(4):
        observation, *_ = env.step([-MAX_DISPLACEMENT, 1.0])
    assert np.array_equal(keypoints(observation), keypoints(start).astype(np.float32))
    assert observation[:2] == pytest.approx([-17.0, 4.0])  # moved, clamped to the pusher box


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


@pytest.mark.parametrize("pusher, action", [
    ([-6.0, 0.0], [MAX_DISPLACEMENT, 0.0]),  # at a face
    ([-6.0, -6.0], [MAX_DISPLACEMENT, MAX_DISPLACEMENT]),  # at a corner, the longest step the box allows
])
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
            action = np.clip(MAX_DISPLACEMENT * (direction + rng.normal(0, 0.5, 2)), -MAX_DISPLACEMENT, MAX_DISPLACEMENT)
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
    assert info["cost"] == pytest.approx(np.linalg.norm(keypoints(observation) - goal.reshape(-1, 2), axis=1).mean(), rel=1e-6)

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


def test_state_option_restores_an_observation():
    env = gymnasium.make(ENV_ID, shape="t")
    observation, _ = env.reset(seed=5)
    for _ in range(10):
        observation, *_ = env.step(env.action_space.sample())
    restored, _ = env.reset(options={"state": observation})
    assert restored == pytest.approx(observation, abs=1e-4)


@pytest.mark.parametrize("options, message", [
    ({"goal": np.zeros(3)}, "goal must hold 8 finite numbers"),
    ({"goal": np.arange(8.0)}, "not those of the object"),
    ({"state": np.concatenate([[0.0, 0.0], np.zeros(8)])}, "not those of the object"),
    ({"state": None}, "state must"),
    ({"start": 1}, "unknown reset option"),
])
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


def test_diverged_simulation_raises_simulation_error():
    env = gymnasium.make(ENV_ID)
    env.reset(seed=0)
    env.unwrapped._object.position = (math.nan, 0.0)
    with pytest.raises(SimulationError, match="diverged"):
        env.step([0.0, 0.0])


def test_render_draws_object_goal_and_pusher():
    env = gymnasium.make(ENV_ID, render_mode="rgb_array")
    env.reset(seed=0, options={"state": object_at_origin_state(env, [-7.0, 0.0]),
                                "goal": env.unwrapped.keypoints_at(5.0, 5.0, 0.3)})
    frame = env.render()
    assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3
    height, width, _ = frame.shape

    def pixel(x, y):  # workspace cm -> image pixel; image y points down
        return frame[int(round((30 - y) / 60 * height)), int(round((x + 30) / 60 * width))].astype(int)

    red, green, blue = pixel(-7.0, 0.0), pixel(5.0, 5.0 + 4.0 * math.cos(0.3) + 0.05), pixel(0.0, 0.0)
    assert red[0] > 150 and red[1] < 100  # pusher
    assert blue[2] > 150 and blue[0] < 120  # object
    assert frame[..., 1].astype(int).max() > 0 and np.any((frame[..., 1] > 140) & (frame[..., 0] < 80))  # goal outline
    env.step([MAX_DISPLACEMENT, 0.0])
    assert not np.array_equal(env.render(), frame)


def test_dataset_metadata_has_every_required_key_and_is_json():
    env = gymnasium.make(ENV_ID, shape="t")
    metadata = env.unwrapped.dataset_metadata(seed=7)
    assert set(REQUIRED_METADATA) <= set(metadata)
    assert metadata["env_id"] == ENV_ID and metadata["env_kwargs"] == {"shape": "t"} and metadata["seed"] == 7
    assert len(metadata["workspace_low"]) == len(metadata["state_layout"]) == 10
    assert json.loads(json.dumps(metadata)) == metadata
    assert envs.ObjectPushingEnv is ObjectPushingEnv


def test_rejected_reset_leaves_the_running_episode_intact():
    env = gymnasium.make(ENV_ID)
    observation, _ = env.reset(seed=0)
    goal = env.unwrapped.goal.copy()
    with pytest.raises(EnvOptionsError):
        env.reset(options={"state": object_at_origin_state(env, [0.0, 0.0])})
    with pytest.raises(EnvOptionsError):
        env.reset(options={"goal": np.arange(8.0)})
    assert np.array_equal(env.unwrapped.goal, goal)
    next_observation, *_ = env.step([0.0, 0.0])
    assert np.array_equal(next_observation, observation)
