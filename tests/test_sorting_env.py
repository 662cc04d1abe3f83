"""ObjectSorting-v0: discs pushing discs, object and class counts, classes and cost, bounds, exploration (what all
table envs share: test_table_envs.py)."""

import math

import gymnasium
import numpy as np
import pytest
from scenes import FAR, state
from scenes import SORTING as ENV_ID
from scenes import points as positions

from envs.collect import collect_transitions
from envs.errors import EnvOptionsError
from envs.sorting import OBJECT_LIMIT, OBJECT_RADIUS
from envs.table import MAX_DISPLACEMENT, PUSHER_LIMIT, PUSHER_RADIUS


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
    default = gymnasium.make(ENV_ID).unwrapped
    assert default.num_objects == 4 and default.num_classes == 2
    assert default.class_targets.tolist() == [[-10.0, 0.0], [10.0, 0.0]]
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


@pytest.mark.parametrize(
    "options, message",
    [
        ({"state": state([20.0, 0.0], FAR)}, "pusher .* is outside"),
        ({"state": state([0.0, 0.0], [29.5, 0.0], *FAR[1:])}, "outside"),
        ({"state": state([0.0, 0.0], [5.0, 0.0], [6.0, 0.0], *FAR[2:])}, "objects 0 and 1 overlap"),
        ({"state": state([0.0, 0.0], FAR[0], [1.0, 0.0], *FAR[2:])}, "pusher overlaps object 1"),
        ({"classes": [0, 1]}, "classes must be 4 integer labels"),
        ({"classes": [0.0, 1.0, 0.0, 1.0]}, "classes must be 4 integer labels"),
        ({"classes": [0, 1, 2, 1]}, "classes must lie in 0 .. 1"),
        ({"goal": np.zeros(8)}, "unknown reset option"),
    ],
)
def test_bad_reset_options_raise_a_clear_error(options, message):
    env = gymnasium.make(ENV_ID)
    with pytest.raises(EnvOptionsError, match=message):
        env.reset(seed=0, options=options)


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


def test_dataset_metadata_records_objects_classes_and_targets():
    env = gymnasium.make(ENV_ID, num_objects=5, num_classes=3)
    metadata = env.unwrapped.dataset_metadata(seed=7)
    assert metadata["num_objects"] == 5 and metadata["num_classes"] == 3 and metadata["object_radius"] == OBJECT_RADIUS
    assert (
        metadata["class_targets"] == env.unwrapped.class_targets.tolist() and "info['classes']" in metadata["classes"]
    )


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
