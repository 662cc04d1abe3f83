"""The task of a controller: a planning problem minus state, goal and warm start."""

import dataclasses

import gymnasium
import numpy as np
import pytest

import envs  # noqa: F401
from mpc.control.task import ControlSettings, control_task, goal_features, with_obstacles
from mpc.errors import MPCError, ProblemError
from mpc.problem import PlanningProblem, Task


def small_task(**changes):
    fields = dict(
        horizon=3,
        action_low=-np.ones(2),
        action_high=np.ones(2),
        state_weights=np.full(3, 0.5),
        terminal_weights=np.full(3, 2.0),
        action_weight=0.1,
        discount=0.9,
        cost_matrix=np.array([[1.0, 0], [0, 1], [1, -1]]),
        state_constraints=(np.array([[1.0, 0.0]]), np.array([4.0])),
        workspace_low=-5 * np.ones(2),
        workspace_high=5 * np.ones(2),
        time_limit=0.7,
    )
    return Task(**(fields | changes))


def test_a_task_becomes_the_problem_with_every_field_plus_state_goal_and_warm_start():
    task = small_task()
    warm_start = np.full((3, 2), 0.25)
    problem = task.problem(np.array([1.0, 2.0]), np.array([0.0, 1.0, -1.0]), warm_start)
    assert isinstance(problem, PlanningProblem) and isinstance(problem, Task)
    for field in dataclasses.fields(Task):
        if field.name == "state_constraints":
            for made, given in zip(problem.state_constraints, task.state_constraints):
                np.testing.assert_array_equal(made, given)
        else:
            np.testing.assert_array_equal(getattr(problem, field.name), getattr(task, field.name))
    np.testing.assert_array_equal(problem.state, [1.0, 2.0])
    np.testing.assert_array_equal(problem.goal, [0.0, 1.0, -1.0])
    np.testing.assert_array_equal(problem.warm_start, warm_start)
    assert task.problem(np.zeros(2), np.zeros(3)).warm_start is None


def test_a_malformed_task_raises_when_it_becomes_a_problem():
    with pytest.raises(ProblemError, match="features"):
        small_task().problem(np.zeros(2), np.zeros(2))
    with pytest.raises(ProblemError, match="non-negative"):
        small_task(terminal_weights=-np.ones(3)).problem(np.zeros(2), np.zeros(3))


@pytest.fixture(scope="module")
def pushing():
    return gymnasium.make("sparsedyn/ObjectPushing-v0").unwrapped.dataset_metadata(seed=0)


def test_the_control_task_compares_the_goal_entries_and_adds_the_reach_term(pushing):
    settings = ControlSettings(
        horizon=5,
        time_limit=0.3,
        running_weight=0.2,
        terminal_weight=1.0,
        reach_weight=0.1,
        action_weight=0.05,
        discount=0.8,
    )
    task = control_task(pushing, settings)
    goals = len(pushing["goal_indices"])
    assert task.horizon == 5 and task.time_limit == 0.3 and task.action_weight == 0.05 and task.discount == 0.8
    assert task.cost_matrix.shape == (goals + 2, len(pushing["state_layout"]))
    identity = np.eye(len(pushing["state_layout"]))
    np.testing.assert_array_equal(task.cost_matrix[:goals], identity[pushing["goal_indices"]])
    # The reach rows: the pusher minus the mean of the goal entries, per axis.
    np.testing.assert_allclose(task.cost_matrix[goals:].sum(axis=1), 0.0, atol=1e-12)
    np.testing.assert_array_equal(task.state_weights, [0.2] * goals + [0.1] * 2)
    np.testing.assert_array_equal(task.terminal_weights, [1.0] * goals + [0.1] * 2)
    np.testing.assert_array_equal(task.action_low, pushing["action_low"])
    np.testing.assert_array_equal(task.workspace_high, pushing["workspace_high"])
    goal = goal_features(task, np.arange(goals, dtype=float))
    np.testing.assert_array_equal(goal, list(range(goals)) + [0.0, 0.0])
    state = np.zeros(len(pushing["state_layout"]))
    assert task.problem(state, goal).feature_dim == goals + 2


def test_without_reach_weight_the_cost_is_the_goal_entries_alone(pushing):
    task = control_task(pushing, ControlSettings(reach_weight=0.0))
    assert task.cost_matrix.shape[0] == len(pushing["goal_indices"]) == len(task.state_weights)


def test_an_episodes_obstacles_become_planning_obstacles_for_the_pusher_and_the_outline():
    env = gymnasium.make("sparsedyn/ObjectPushing-v0", obstacles=2)
    observation, info = env.reset(seed=4)
    metadata = env.unwrapped.dataset_metadata()
    settings = ControlSettings(obstacle_spacing=3.0, obstacle_margin=0.7, obstacle_weight=5.0)
    task = with_obstacles(
        control_task(metadata, settings), metadata, info["obstacles"], observation.astype(float), settings
    )
    assert task.obstacle_weight == 5.0 and len(task.obstacles) == 4
    pusher, outline = task.obstacles[:2]
    np.testing.assert_array_equal(pusher.vertices, info["obstacles"][0])
    np.testing.assert_array_equal(pusher.points[0] @ observation, observation[:2])
    assert (pusher.margin, pusher.soft_margin) == (1.0, 0.7)  # the pusher's radius, then the soft band
    # 8 cm sides at most 3 cm apart: 3 pieces per side, 12 points on the box's outline, 8/3 cm apart.
    points = np.einsum("pjn,n->pj", outline.points, observation.astype(float))
    assert len(points) == 12 and outline.margin == pytest.approx(4 / 3, rel=1e-6)
    gaps = np.linalg.norm(np.roll(points, -1, axis=0) - points, axis=1)
    np.testing.assert_allclose(gaps, 8 / 3, rtol=1e-5)
    np.testing.assert_allclose(points[::3], observation[2:].reshape(4, 2), atol=1e-12)  # the keypoints among them
    problem = task.problem(observation.astype(float), goal_features(task, env.unwrapped.goal))
    assert not problem.predicts_collision(np.stack([observation] * 3).astype(float))
    assert with_obstacles(task, metadata, [], observation, settings).obstacles == ()


def test_obstacles_in_an_env_that_does_not_describe_them_are_refused(pushing):
    task = control_task(pushing, ControlSettings())
    square = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]
    with pytest.raises(MPCError, match="does not describe them"):
        with_obstacles(task, pushing, [square], np.zeros(10), ControlSettings())
