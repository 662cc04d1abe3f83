"""What every table env (envs.table.TableEnv) does the same way, checked on ObjectPushing-v0, ObjectSorting-v0 and
RopeShaping-v0:
gymnasium contract, spaces and time limit, determinism, contact physics, the state option, rejected resets,
divergence, rendering, dataset metadata."""

import json
import math

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from scenes import FAR, PUSHING, ROPE, SORTING, object_at_origin_state, points, rope_centres, state

import envs
from envs.dataset import REQUIRED_METADATA
from envs.errors import EnvOptionsError, SimulationError
from envs.pushing import ObjectPushingEnv
from envs.rope import RopeShapingEnv
from envs.sorting import ObjectSortingEnv
from envs.table import MAX_DISPLACEMENT, TableEnv


@pytest.mark.filterwarnings("ignore:.*symmetric and normalized")  # actions are displacements in cm, on purpose
@pytest.mark.parametrize(
    "env_id, kwargs",
    [
        (PUSHING, {"shape": "box"}),
        (PUSHING, {"shape": "t"}),
        (SORTING, {"num_objects": 2, "num_classes": 2}),
        (SORTING, {"num_objects": 8, "num_classes": 4}),
        (ROPE, {"num_particles": 3}),
        (ROPE, {}),
    ],
)
def test_check_env_passes(env_id, kwargs):
    env = gymnasium.make(env_id, render_mode="rgb_array", **kwargs)
    check_env(env.unwrapped, skip_render_check=False)


# env class, object entries of the default env, registered time limit
REGISTERED = {
    PUSHING: (ObjectPushingEnv, [f"keypoint{i}_{a}" for i in range(4) for a in "xy"], 60),
    SORTING: (ObjectSortingEnv, [f"obj{i}_{a}" for i in range(4) for a in "xy"], 100),
    ROPE: (RopeShapingEnv, [f"particle{i}_{a}" for i in range(10) for a in "xy"], 100),
}


@pytest.mark.parametrize("env_id", REGISTERED)
def test_registered_with_documented_spaces_and_time_limit(env_id):
    env_class, object_layout, max_steps = REGISTERED[env_id]
    env = gymnasium.make(env_id)
    base = env.unwrapped
    assert isinstance(base, env_class) and isinstance(base, TableEnv) and getattr(envs, env_class.__name__) is env_class
    assert env.observation_space.shape == (len(base.state_layout),) == (2 + len(object_layout),)
    assert base.state_layout == ["pusher_x", "pusher_y"] + object_layout
    assert base.goal_indices == list(range(2, 2 + len(object_layout)))
    assert [base.state_layout[i] for i in base.goal_indices] == object_layout
    assert np.array_equal(env.observation_space.low, base.workspace_low)
    assert np.array_equal(env.observation_space.high, base.workspace_high)
    assert np.all(env.action_space.high == MAX_DISPLACEMENT) and np.all(env.action_space.low == -MAX_DISPLACEMENT)
    env.reset(seed=0)
    steps, truncated = 0, False
    while not truncated:
        _, _, terminated, truncated, _ = env.step(np.zeros(2))
        assert not terminated
        steps += 1
    assert steps == env.spec.max_episode_steps == max_steps


def rollout(env_id, kwargs, seed, actions):
    """The observations of a seeded episode, and its task as bytes: the goal and (sorting) the classes."""
    env = gymnasium.make(env_id, **kwargs)
    observation, info = env.reset(seed=seed)
    observations = [observation]
    for action in actions:
        observations.append(env.step(action)[0])
    return np.array(observations), env.unwrapped.goal.tobytes() + info.get("classes", np.array([])).tobytes()


@pytest.mark.parametrize(
    "env_id, kwargs",
    [
        (PUSHING, {"shape": "box"}),
        (PUSHING, {"shape": "t"}),
        (SORTING, {"num_objects": 6, "num_classes": 3}),
        (ROPE, {}),
    ],
)
def test_same_seed_and_actions_give_identical_trajectories(env_id, kwargs):
    actions = np.random.default_rng(0).uniform(-MAX_DISPLACEMENT, MAX_DISPLACEMENT, (40, 2))
    first, first_task = rollout(env_id, kwargs, 3, actions)
    second, second_task = rollout(env_id, kwargs, 3, actions)
    assert first.tobytes() == second.tobytes() and first_task == second_task
    other, _ = rollout(env_id, kwargs, 4, actions)
    assert not np.array_equal(first[0], other[0])


# start state, the pushed object's rows of points(), its expected x shift and tolerance, the pusher after the push away
PUSHES = {
    # the box's left face at x = -4: 10 cm to the right are 2 cm free, 8 cm in contact
    PUSHING: (lambda env: object_at_origin_state(env, [-7.0, 0.0]), slice(0, 4), 8.0, 0.5, [-17.0, 4.0]),
    # pusher 2.5 cm left of disc 0's centre: 2.5 cm free, 7.5 cm in contact; the other discs far away
    SORTING: (lambda env: state([-5.0, 0.0], [0.0, 0.0], *FAR[:3]), slice(0, 1), 7.5, 0.3, [-15.0, 4.0]),
}


@pytest.mark.parametrize("env_id", PUSHES)
def test_push_aimed_at_an_object_moves_it_and_push_away_does_not(env_id):
    start_state, pushed, shift_x, tolerance, pusher_after = PUSHES[env_id]
    env = gymnasium.make(env_id)
    start = start_state(env)

    observation, _ = env.reset(seed=0, options={"state": start})
    for _ in range(4):  # 10 cm to the right
        observation, *_ = env.step([MAX_DISPLACEMENT, 0.0])
    shift = points(observation) - points(start)
    assert shift[pushed, 0] == pytest.approx(np.full(pushed.stop, shift_x), abs=tolerance)  # travels with the pusher
    assert np.abs(shift[pushed, 1]).max() < 0.05  # a centred push does not turn it
    untouched = np.arange(len(shift)) >= pushed.stop
    assert np.array_equal(points(observation)[untouched], points(start)[untouched].astype(np.float32))
    settled, *_ = env.step([0.0, 0.0])
    assert np.array_equal(points(settled), points(observation))  # quasi-static: stops when contact ends

    observation, _ = env.reset(seed=0, options={"state": start})
    for _ in range(4):
        observation, *_ = env.step([-MAX_DISPLACEMENT, 1.0])
    assert np.array_equal(points(observation), points(start).astype(np.float32))
    assert observation[:2] == pytest.approx(pusher_after)  # moved (pushing: clamped to the pusher box)


@pytest.mark.parametrize("env_id, kwargs", [(PUSHING, {"shape": "t"}), (SORTING, {"num_objects": 8}), (ROPE, {})])
def test_state_option_restores_an_observation(env_id, kwargs):
    env = gymnasium.make(env_id, **kwargs)
    observation, info = env.reset(seed=5)
    for action in np.random.default_rng(5).uniform(-MAX_DISPLACEMENT, MAX_DISPLACEMENT, (20, 2)):
        observation, *_ = env.step(action)
    task = {"classes": info["classes"]} if "classes" in info else {}
    restored, restored_info = env.reset(options={"state": observation} | task)
    assert restored == pytest.approx(observation, abs=1e-4)
    if task:
        assert np.array_equal(restored_info["classes"], info["classes"])


@pytest.mark.parametrize(
    "env_id, kwargs, expected",
    [
        (PUSHING, {}, "'state' and/or 'goal'"),
        (SORTING, {}, "'state' and/or 'classes'"),
        (ROPE, {"num_particles": 4}, "'state' and/or 'goal'"),
    ],
)
@pytest.mark.parametrize(
    "options, message",
    [
        ({"state": np.zeros(3)}, "state must hold 10 finite numbers, got shape \\(3,\\)"),
        ({"state": [0.0] * 9 + [math.nan]}, "state must hold 10 finite numbers"),
        ({"state": None}, "state must"),
        ({"start": 1, "end": 2}, "unknown reset option\\(s\\) end, start; expected {expected}"),
    ],
)
def test_bad_reset_options_raise_a_clear_error(env_id, kwargs, expected, options, message):
    env = gymnasium.make(env_id, **kwargs)
    with pytest.raises(EnvOptionsError, match=message.format(expected=expected)):
        env.reset(seed=0, options=options)


# options each env rejects: a pusher inside an object, and an invalid task option
REJECTED = {
    PUSHING: lambda env: [{"state": object_at_origin_state(env, [0.0, 0.0])}, {"goal": np.arange(8.0)}],
    SORTING: lambda env: [{"state": state([0.0, 0.0], FAR[0], [1.0, 0.0], *FAR[2:])}, {"classes": [5, 5, 5, 5]}],
    ROPE: lambda env: [{"state": state([0.0, 0.0], rope_centres(10))}, {"goal": np.arange(20.0)}],
}


@pytest.mark.parametrize("env_id", REJECTED)
def test_rejected_reset_leaves_the_running_episode_intact(env_id):
    env = gymnasium.make(env_id)
    observation, info = env.reset(seed=0)
    goal = env.unwrapped.goal.copy()
    for options in REJECTED[env_id](env):
        with pytest.raises(EnvOptionsError):
            env.reset(options=options)
    assert np.array_equal(env.unwrapped.goal, goal)
    if "classes" in info:
        assert np.array_equal(env.unwrapped.classes, info["classes"])
    next_observation, *_ = env.step([0.0, 0.0])
    assert np.array_equal(next_observation, observation)


@pytest.mark.parametrize(
    "env_id, body",
    [
        (PUSHING, lambda base: base._object),
        (SORTING, lambda base: base._objects[2]),
        (ROPE, lambda base: base._segments[-1]),
    ],
)
def test_diverged_simulation_raises_simulation_error(env_id, body):
    env = gymnasium.make(env_id)
    with pytest.raises(gymnasium.error.ResetNeeded):
        env.unwrapped.step([0.0, 0.0])
    env.reset(seed=0)
    body(env.unwrapped).position = (math.nan, 0.0)
    with pytest.raises(SimulationError, match="diverged"):
        env.step([0.0, 0.0])


def pushing_scene(frame, pixel):
    blue = pixel(0.0, 0.0)
    assert blue[2] > 150 and blue[0] < 120  # object
    assert frame[..., 1].astype(int).max() > 0 and np.any((frame[..., 1] > 140) & (frame[..., 0] < 80))  # goal outline


def sorting_scene(frame, pixel):
    first, second = pixel(-3.0, 0.0), pixel(3.0, 0.0)
    assert first[2] > 150 and first[0] < 120  # class 0: blue
    assert second[0] > 200 and second[2] < 100  # class 1: orange
    assert np.array_equal(pixel(0.0, 5.0), first) and np.array_equal(pixel(0.0, -5.0), second)
    assert np.array_equal(pixel(-10.0, 3.0), first) and np.array_equal(pixel(10.0, 3.0), second)  # target rings


def rope_scene(frame, pixel):
    rope, goal = pixel(0.0, 5.0), pixel(-5.0, 6.0)
    assert rope[2] > 150 and rope[0] < 120  # the rope, along y = 5
    assert goal[1] > 140 and goal[0] < 80  # the goal, along x = -5
    assert np.array_equal(pixel(0.0, 10.0), pixel(0.0, 0.0))  # the table beside the rope


# reset options, the pusher position, checks of the env's own drawing, an action that changes the frame
SCENES = {
    PUSHING: (
        lambda env: {
            "state": object_at_origin_state(env, [-7.0, 0.0]),
            "goal": env.unwrapped.keypoints_at(5.0, 5.0, 0.3),
        },
        (-7.0, 0.0),
        pushing_scene,
        [MAX_DISPLACEMENT, 0.0],
    ),
    SORTING: (
        lambda env: {
            "state": state([0.0, -12.0], [-3.0, 0.0], [3.0, 0.0], [0.0, 5.0], [0.0, -5.0]),
            "classes": [0, 1, 0, 1],
        },
        (0.0, -12.0),
        sorting_scene,
        [0.0, MAX_DISPLACEMENT],
    ),
    ROPE: (
        lambda env: {
            "state": state([0.0, 2.0], rope_centres(10, 0.0, (0.0, 5.0))),
            "goal": rope_centres(10, math.pi / 2, (-5.0, 0.0)).ravel(),
        },
        (0.0, 2.0),
        rope_scene,
        [0.0, MAX_DISPLACEMENT],
    ),
}


@pytest.mark.parametrize("env_id", SCENES)
def test_render_draws_the_scene_and_the_pusher(env_id):
    options, pusher, check_scene, action = SCENES[env_id]
    env = gymnasium.make(env_id, render_mode="rgb_array")
    env.reset(seed=0, options=options(env))
    frame = env.render()
    assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3
    height, width, _ = frame.shape

    def pixel(x, y):  # workspace cm -> image pixel; image y points down
        return frame[int(round((30 - y) / 60 * height)), int(round((x + 30) / 60 * width))].astype(int)

    red = pixel(*pusher)
    assert red[0] > 150 and red[1] < 100  # pusher
    check_scene(frame, pixel)
    env.step(action)
    assert not np.array_equal(env.render(), frame)


@pytest.mark.parametrize(
    "env_id, kwargs, width",
    [
        (PUSHING, {"shape": "t"}, 10),
        (SORTING, {"num_objects": 5, "num_classes": 3}, 12),
        (ROPE, {"num_particles": 12}, 26),
    ],
)
def test_dataset_metadata_describes_and_reproduces_the_env(env_id, kwargs, width):
    env = gymnasium.make(env_id, **kwargs)
    metadata = env.unwrapped.dataset_metadata(seed=7)
    assert set(REQUIRED_METADATA) <= set(metadata)
    assert metadata["env_id"] == env_id and metadata["env_kwargs"] == kwargs and metadata["seed"] == 7
    assert len(metadata["workspace_low"]) == len(metadata["state_layout"]) == width
    assert json.loads(json.dumps(metadata)) == metadata
    again = gymnasium.make(metadata["env_id"], **metadata["env_kwargs"]).unwrapped
    assert again.dataset_metadata(seed=7) == metadata
