"""ObjectSorting-v0: gymnasium contract, determinism, contact physics, classes and cost, rendering, collection."""

import json
import math

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import envs
from envs.collect import collect_transitions
from envs.dataset import REQUIRED_METADATA, load_transitions
from envs.errors import EnvOptionsError, SimulationError
from envs.sorting import OBJECT_LIMIT, OBJECT_RADIUS, ObjectSortingEnv
from envs.table import MAX_DISPLACEMENT, PUSHER_LIMIT, PUSHER_RADIUS
from mpc.main import main

ENV_ID = "sparsedyn/ObjectSorting-v0"
FAR = [[-12.0, 12.0], [12.0, 12.0], [12.0, -12.0], [-12.0, -12.0]]  # out of the way of pushes along y = 0


def state(pusher, *positions):
    return np.concatenate([pusher, np.ravel(positions)])


def positions(observation):
    return observation[2:].reshape(-1, 2)


@pytest.mark.filterwarnings("ignore:.*symmetric and normalized")  # actions are displacements in cm, on purpose
@pytest.mark.parametrize("num_objects, num_classes", [(2, 2), (8, 4)])
def test_check_env_passes(num_objects, num_classes):
    env = gymnasium.make(ENV_ID, num_objects=num_objects, num_classes=num_classes, render_mode="rgb_array")
    check_env(env.unwrapped, skip_render_check=False)


def test_registered_with_documented_spaces_and_time_limit():
    env = gymnasium.make(ENV_ID)
    base = env.unwrapped
    assert isinstance(base, ObjectSortingEnv) and envs.ObjectSortingEnv is ObjectSortingEnv
    assert base.num_objects == 4 and base.num_classes == 2
    assert env.observation_space.shape == (len(base.state_layout),) == (10,)
    assert base.state_layout == ["pusher_x", "pusher_y"] + [f"obj{i}_{a}" for i in range(4) for a in "xy"]
    assert base.goal_indices == list(range(2, 10))
    assert np.array_equal(env.observation_space.low, base.workspace_low)
    assert np.array_equal(env.observation_space.high, base.workspace_high)
    assert np.all(env.action_space.high == MAX_DISPLACEMENT) and np.all(env.action_space.low == -MAX_DISPLACEMENT)
    env.reset(seed=0)
    steps, truncated = 0, False
    while not truncated:
        _, _, terminated, truncated, _ = env.step(np.zeros(2))
        assert not terminated
        steps += 1
    assert steps == env.spec.max_episode_steps == 100


def rollout(seed, actions, **kwargs):
    env = gymnasium.make(ENV_ID, **kwargs)
    observation, info = env.reset(seed=seed)
    observations = [observation]
    for action in actions:
        observations.append(env.step(action)[0])
    return np.array(observations), info["classes"]


def test_same_seed_and_actions_give_identical_trajectories():
    actions = np.random.default_rng(0).uniform(-MAX_DISPLACEMENT, MAX_DISPLACEMENT, (40, 2))
    first, first_classes = rollout(3, actions, num_objects=6, num_classes=3)
    second, second_classes = rollout(3, actions, num_objects=6, num_classes=3)
    assert first.tobytes() == second.tobytes() and np.array_equal(first_classes, second_classes)
    other, _ = rollout(4, actions, num_objects=6, num_classes=3)
    assert not np.array_equal(first[0], other[0])


def test_push_aimed_at_an_object_moves_it_and_push_away_does_not():
    env = gymnasium.make(ENV_ID)
    start = state([-5.0, 0.0], [0.0, 0.0], *FAR[:3])  # pusher 2.5 cm left of object 0's centre: 2.5 cm gap

    observation, _ = env.reset(seed=0, options={"state": start})
    for _ in range(4):  # 10 cm to the right: 2.5 cm free, 7.5 cm in contact
        observation, *_ = env.step([MAX_DISPLACEMENT, 0.0])
    shift = positions(observation) - positions(start)
    assert shift[0, 0] == pytest.approx(7.5, abs=0.3) and abs(shift[0, 1]) < 0.05  # travels with the pusher
    assert np.array_equal(positions(observation)[1:], positions(start)[1:].astype(np.float32))  # others untouched
    settled, *_ = env.step([0.0, 0.0])
    assert np.array_equal(positions(settled), positions(observation))  # quasi-static: stops when contact ends

    observation, _ = env.reset(seed=0, options={"state": start})
    for _ in range(4):
        observation, *_ = env.step([-MAX_DISPLACEMENT, 1.0])
    assert np.array_equal(positions(observation), positions(start).astype(np.float32))
    assert observation[:2] == pytest.approx([-15.0, 4.0])


def test_a_pushed_object_pushes_the_next_one():
    env = gymnasium.make(ENV_ID, num_objects=3)
    start = state([-5.0, 0.0], [0.0, 0.0], [4.0, 0.0], FAR[0])  # 1 cm between the two discs
    observation, _ = env.reset(seed=0, options={"state": start})
    for _ in range(4):
        observation, *_ = env.step([MAX_DISPLACEMENT, 0.0])
    shift = positions(observation) - positions(start)
    assert shift[0, 0] == pytest.approx(7.5, abs=0.3) and shift[1, 0] == pytest.approx(6.5, abs=0.3)
    gap = np.linalg.norm(positions(observation)[1] - positions(observation)[0]) - 2 * OBJECT_RADIUS
    assert abs(gap) < 0.2  # in contact, not overlapping
    assert np.array_equal(positions(observation)[2], positions(start)[2].astype(np.float32))


@pytest.mark.parametrize("num_objects", range(2, 9))
def test_every_object_count_from_2_to_8_works(num_objects):
    num_classes = min(num_objects, 3)
    env = gymnasium.make(ENV_ID, num_objects=num_objects, num_classes=num_classes)
    base = env.unwrapped
    assert env.observation_space.shape == (2 + 2 * num_objects,)
    for seed in range(3):
        observation, info = env.reset(seed=seed)
        discs = positions(observation).astype(np.float64)
        assert np.all(np.abs(discs) <= 6.0)  # a central pile ...
        distances = np.linalg.norm(discs[:, None] - discs[None], axis=-1) + np.eye(num_objects) * 99
        assert distances.min() >= 2 * OBJECT_RADIUS + 0.2 - 1e-5  # ... without overlap
        assert np.linalg.norm(discs - observation[:2], axis=1).min() >= OBJECT_RADIUS + PUSHER_RADIUS + 0.5 - 1e-5
        counts = np.bincount(info["classes"], minlength=num_classes)  # balanced, every class present
        assert counts.sum() == num_objects and counts.max() - counts.min() <= 1
        assert np.array_equal(info["classes"], base.classes)
        assert np.array_equal(base.goal, base.class_targets[info["classes"]].ravel())
        for action in np.random.default_rng(seed).uniform(-MAX_DISPLACEMENT, MAX_DISPLACEMENT, (10, 2)):
            observation, *_ = env.step(action)
            assert env.observation_space.contains(observation)


@pytest.mark.parametrize("num_objects, num_classes", [(0, 2), (1, 2), (9, 2), (4, 1), (4, 5), ("4", 2)])
def test_bad_object_or_class_counts_are_rejected(num_objects, num_classes):
    with pytest.raises(EnvOptionsError, match="num_objects|num_classes"):
        gymnasium.make(ENV_ID, num_objects=num_objects, num_classes=num_classes)


def test_class_targets_are_evenly_spaced_on_a_circle():
    assert gymnasium.make(ENV_ID).unwrapped.class_targets.tolist() == [[-10.0, 0.0], [10.0, 0.0]]
    targets = gymnasium.make(ENV_ID, num_objects=4, num_classes=4).unwrapped.class_targets
    assert targets == pytest.approx(np.array([[-10.0, 0.0], [0.0, -10.0], [10.0, 0.0], [0.0, 10.0]]))


def test_cost_is_the_sum_of_distances_to_class_targets():
    env = gymnasium.make(ENV_ID, num_objects=3, num_classes=3)
    base = env.unwrapped
    start = state([0.0, -15.0], [0.0, 0.0], [-10.0, 0.0], [5.0, 5.0])
    observation, info = env.reset(seed=0, options={"state": start, "classes": [0, 0, 2]})
    assert info["classes"].tolist() == [0, 0, 2] and base.classes.tolist() == [0, 0, 2]
    targets = base.class_targets[[0, 0, 2]]
    assert np.array_equal(base.goal, targets.ravel())
    assert info["cost"] == pytest.approx(10.0 + 0.0 + np.linalg.norm(targets[2] - [5.0, 5.0]))
    for _ in range(3):
        observation, reward, *_, info = env.step([-1.0, 2.0])
        assert reward == -info["cost"]
        expected = np.linalg.norm(positions(observation).astype(np.float64) - targets, axis=1).sum()
        assert info["cost"] == pytest.approx(expected, rel=1e-6)


def test_state_option_restores_an_observation():
    env = gymnasium.make(ENV_ID, num_objects=8)
    observation, info = env.reset(seed=5)
    actions = np.random.default_rng(5).uniform(-MAX_DISPLACEMENT, MAX_DISPLACEMENT, (20, 2))
    for action in actions:
        observation, *_ = env.step(action)
    restored, restored_info = env.reset(options={"state": observation, "classes": info["classes"]})
    assert restored == pytest.approx(observation, abs=1e-4)
    assert np.array_equal(restored_info["classes"], info["classes"])


@pytest.mark.parametrize("options, message", [
    ({"state": np.zeros(3)}, "state must hold 10 finite numbers"),
    ({"state": None}, "state must"),
    ({"state": state([20.0, 0.0], FAR)}, "pusher .* is outside"),
    ({"state": state([0.0, 0.0], [29.5, 0.0], *FAR[1:])}, "outside"),
    ({"state": state([0.0, 0.0], [5.0, 0.0], [6.0, 0.0], *FAR[2:])}, "objects 0 and 1 overlap"),
    ({"state": state([0.0, 0.0], FAR[0], [1.0, 0.0], *FAR[2:])}, "pusher overlaps object 1"),
    ({"classes": [0, 1]}, "classes must be 4 integer labels"),
    ({"classes": [0.0, 1.0, 0.0, 1.0]}, "classes must be 4 integer labels"),
    ({"classes": [0, 1, 2, 1]}, "classes must lie in 0 .. 1"),
    ({"goal": np.zeros(8)}, "unknown reset option"),
])
def test_bad_reset_options_raise_a_clear_error(options, message):
    env = gymnasium.make(ENV_ID)
    with pytest.raises(EnvOptionsError, match=message):
        env.reset(seed=0, options=options)


def test_rejected_reset_leaves_the_running_episode_intact():
    env = gymnasium.make(ENV_ID)
    observation, info = env.reset(seed=0)
    goal = env.unwrapped.goal.copy()
    with pytest.raises(EnvOptionsError):
        env.reset(options={"state": state([0.0, 0.0], FAR[0], [1.0, 0.0], *FAR[2:])})
    with pytest.raises(EnvOptionsError):
        env.reset(options={"classes": [5, 5, 5, 5]})
    assert np.array_equal(env.unwrapped.goal, goal) and np.array_equal(env.unwrapped.classes, info["classes"])
    next_observation, *_ = env.step([0.0, 0.0])
    assert np.array_equal(next_observation, observation)


@pytest.mark.parametrize("heading", [0.0, math.pi / 4])
def test_discs_squeezed_against_the_walls_stay_in_the_workspace_box(heading):
    """The worst case: a straight row of 8 discs driven by the pusher into a wall or a corner."""
    env = gymnasium.make(ENV_ID, num_objects=8)
    direction = np.array([math.cos(heading), math.sin(heading)])
    row = [np.array([6.0, 6.0 if heading else 0.0]) + 3.05 * i * direction for i in range(8)]
    observation, _ = env.reset(seed=0, options={"state": state(row[0] - 2.6 * direction, *row)})
    for _ in range(12):
        observation, *_ = env.step(MAX_DISPLACEMENT * direction / np.abs(direction).max())
        assert env.observation_space.contains(observation)
    assert observation[:2] == pytest.approx(PUSHER_LIMIT * direction / np.abs(direction).max())
    assert np.abs(positions(observation)).max() > 25.0  # the row did reach the wall
    assert OBJECT_LIMIT == 29.0


def test_diverged_simulation_raises_simulation_error():
    env = gymnasium.make(ENV_ID)
    env.reset(seed=0)
    env.unwrapped._objects[2].position = (math.nan, 0.0)
    with pytest.raises(SimulationError, match="diverged"):
        env.step([0.0, 0.0])


def test_render_draws_objects_in_class_colours_targets_and_pusher():
    env = gymnasium.make(ENV_ID, render_mode="rgb_array")
    env.reset(seed=0, options={"state": state([0.0, -12.0], [-3.0, 0.0], [3.0, 0.0], [0.0, 5.0], [0.0, -5.0]),
                                "classes": [0, 1, 0, 1]})
    frame = env.render()
    assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3
    height, width, _ = frame.shape

    def pixel(x, y):  # workspace cm -> image pixel; image y points down
        return frame[int(round((30 - y) / 60 * height)), int(round((x + 30) / 60 * width))].astype(int)

    red, first, second = pixel(0.0, -12.0), pixel(-3.0, 0.0), pixel(3.0, 0.0)
    assert red[0] > 150 and red[1] < 100  # pusher
    assert first[2] > 150 and first[0] < 120  # class 0: blue
    assert second[0] > 200 and second[2] < 100  # class 1: orange
    assert np.array_equal(pixel(0.0, 5.0), first) and np.array_equal(pixel(0.0, -5.0), second)
    assert np.array_equal(pixel(-10.0, 3.0), first) and np.array_equal(pixel(10.0, 3.0), second)  # target rings
    env.step([0.0, MAX_DISPLACEMENT])
    assert not np.array_equal(env.render(), frame)


def test_dataset_metadata_describes_and_reproduces_the_env():
    env = gymnasium.make(ENV_ID, num_objects=5, num_classes=3)
    metadata = env.unwrapped.dataset_metadata(seed=7)
    assert set(REQUIRED_METADATA) <= set(metadata)
    assert metadata["env_id"] == ENV_ID and metadata["seed"] == 7
    assert metadata["env_kwargs"] == {"num_objects": 5, "num_classes": 3}
    assert metadata["num_objects"] == 5 and metadata["num_classes"] == 3 and metadata["object_radius"] == OBJECT_RADIUS
    assert metadata["class_targets"] == env.unwrapped.class_targets.tolist() and "info['classes']" in metadata["classes"]
    assert len(metadata["workspace_low"]) == len(metadata["state_layout"]) == 12
    assert json.loads(json.dumps(metadata)) == metadata
    again = gymnasium.make(metadata["env_id"], **metadata["env_kwargs"]).unwrapped
    assert again.dataset_metadata(seed=7) == metadata


def test_exploration_moves_objects_in_most_transitions_and_reaches_every_object():
    data = collect_transitions(ENV_ID, episodes=20, steps=50, seed=0, env_kwargs={"num_objects": 4})
    shift = np.abs(data.next_observations[:, 2:] - data.observations[:, 2:]).reshape(-1, 4, 2).max(axis=2)
    moved = shift.max(axis=1) > 0.01
    assert data.metadata["moved_fraction"] == pytest.approx(moved.mean())
    assert data.metadata["exploration"] == "SortingExploration"
    assert 0.5 <= moved.mean() < 0.95
    assert np.all((shift > 0.5).mean(axis=0) > 0.05)  # every object gets pushed, not only the first
    assert (shift > 0.01).sum(axis=1).max() >= 2  # objects push each other
    assert data.metadata["episodes_dropped"] == 0


def test_collected_transitions_replay_in_a_fresh_env():
    data = collect_transitions(ENV_ID, episodes=2, steps=15, seed=11, env_kwargs={"num_objects": 3})
    env = ObjectSortingEnv(num_objects=3)
    for episode in range(2):
        env_seed, _ = np.random.SeedSequence(11, spawn_key=(episode,)).spawn(2)
        rows = data.episode_ids == episode
        observation, _ = env.reset(seed=int(env_seed.generate_state(1)[0]))
        assert np.array_equal(observation, data.observations[rows][0])
        for action, expected in zip(data.actions[rows], data.next_observations[rows]):
            observation, *_ = env.step(action)
            assert np.array_equal(observation, expected)


def test_cli_collect_writes_a_file_matching_its_metadata(tmp_path, capsys):
    out = tmp_path / "sorting.npz"
    code = main(["collect", "ObjectSorting-v0", "--episodes", "3", "--steps", "12", "--seed", "4", "--workers", "1",
                 "--out", str(out), "--env-kwargs", '{"num_objects": 6, "num_classes": 3}', "--no-progress"])
    assert code == 0
    assert capsys.readouterr().out.startswith("collected 36 transitions from 3 episodes")

    data = load_transitions(out)
    meta = data.metadata
    assert set(REQUIRED_METADATA) <= set(meta)
    assert meta["env_id"] == ENV_ID and meta["seed"] == 4 and meta["env_kwargs"] == {"num_objects": 6, "num_classes": 3}
    env = ObjectSortingEnv(num_objects=6, num_classes=3)
    assert meta == env.dataset_metadata(seed=4) | {key: meta[key] for key in
                                                    ("env_id", "episodes", "episodes_dropped", "steps_per_episode",
                                                     "exploration", "moved_fraction")}
    assert data.state_dim == 14 and data.action_dim == 2 and len(data) == 36
    for states in (data.observations, data.next_observations):
        assert np.all(states >= np.array(meta["workspace_low"])) and np.all(states <= np.array(meta["workspace_high"]))
