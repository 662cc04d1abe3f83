"""Two models as one whose state carries their disagreement (dynamics.disagreement), and the task that prices it."""

from __future__ import annotations

import dataclasses

import gymnasium
import numpy as np
import pytest
import torch
from test_mpc_planner import tiny_model, tiny_problem

import envs  # noqa: F401
from dynamics.disagreement import DisagreementDynamics
from dynamics.errors import DataError
from dynamics.gates import NeuronKind
from dynamics.graph import GraphDynamics
from dynamics.mlp import MLPDynamics
from mpc.control.task import ControlSettings, control_task, goal_features, observed_task, with_obstacles
from mpc.errors import ProblemError
from mpc.milp.planner import MILPPlanner
from mpc.problem import trajectory_cost


def affine_model(seed: int) -> MLPDynamics:
    """A model whose every hidden neuron is an identity: its export is one affine layer."""
    model = tiny_model(seed, hidden=(3,))
    model.set_kinds([np.full(3, NeuronKind.IDENTITY)])
    return model


@pytest.mark.parametrize(
    "main, other",
    [
        (tiny_model(0), tiny_model(1)),  # two hidden layers each
        (tiny_model(2), tiny_model(3, hidden=(6,))),  # depths 3 and 2: the shallower padded
        (tiny_model(4), affine_model(5)),  # one affine model
        (affine_model(6), affine_model(7)),  # both affine
    ],
)
def test_the_export_is_the_pair_s_function_and_carries_the_disagreement(main, other):
    pair = DisagreementDynamics(main, other, entries=[1])
    rng = np.random.default_rng(0)
    states, actions = torch.from_numpy(rng.normal(size=(50, 3)) * 3), torch.from_numpy(rng.uniform(-1, 1, (50, 1)))
    with torch.no_grad():
        predicted = pair(states, actions).numpy()
        first, second = main(states[:, :2], actions).numpy(), other(states[:, :2], actions).numpy()
    np.testing.assert_allclose(predicted[:, :2], first, atol=1e-12)
    np.testing.assert_allclose(predicted[:, 2], second[:, 1] - first[:, 1], atol=1e-12)
    frozen = pair.export()
    assert (frozen.input_dim, frozen.output_dim) == (4, 3)
    assert frozen.relu_count == main.export().relu_count + other.export().relu_count
    np.testing.assert_allclose(frozen.forward(np.c_[states.numpy(), actions.numpy()]), predicted, atol=1e-10)
    moved = states.clone()
    moved[:, 2] += 5.0  # the carried disagreement is an output only
    np.testing.assert_allclose(frozen.forward(np.c_[moved.numpy(), actions.numpy()]), predicted, atol=1e-10)


def test_a_pair_of_one_model_is_refused_it_never_disagrees():
    model = tiny_model(0)
    copy = tiny_model(0)  # another module with the same parameters (e.g. one checkpoint loaded twice)
    for other in (model, copy):
        with pytest.raises(DataError, match="never disagree"):
            DisagreementDynamics(model, other, entries=[0, 1])
    DisagreementDynamics(model, tiny_model(1), entries=[0, 1])  # another seed pairs


def test_models_that_cannot_pair_are_refused():
    with pytest.raises(DataError, match="state and action"):
        DisagreementDynamics(tiny_model(0), tiny_model(1, state_dim=3), entries=[0])
    for entries in ([], [1, 1], [2], [-1]):
        with pytest.raises(DataError, match="distinct indices"):
            DisagreementDynamics(tiny_model(0), tiny_model(1), entries=entries)
    pair = DisagreementDynamics(tiny_model(0), tiny_model(1), entries=[0])
    action = torch.zeros(1, 1, dtype=torch.float64)
    with pytest.raises(DataError, match="prices the disagreement"):  # the env's state alone
        pair(torch.zeros(1, 2, dtype=torch.float64), action)
    with pytest.raises(DataError, match="takes states of 2 entries, got 3"):  # one model on the pair's state
        tiny_model(0)(torch.zeros(1, 3, dtype=torch.float64), action)
    with pytest.raises(DataError, match="two MLP"):
        DisagreementDynamics(tiny_model(0), GraphDynamics(num_objects=1, action_dim=1), entries=[0])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_milp_trades_the_main_model_s_cost_against_the_disagreement_exactly(seed):
    """Both plans optimal: pricing the disagreement lowers it and raises the main model's cost, never the reverse."""
    pair = DisagreementDynamics(tiny_model(seed), tiny_model(seed + 10), entries=[0, 1])
    base = tiny_problem(seed, horizon=3)

    def priced(weight: float):
        return dataclasses.replace(
            base,
            state=np.r_[base.state, 0.0, 0.0],
            cost_matrix=np.eye(4),
            goal=np.r_[base.goal, 0.0, 0.0],
            state_weights=np.r_[base.state_weights, weight, weight],
            terminal_weights=np.r_[base.terminal_weights, weight, weight],
            unobserved=2,
        )

    plans = {weight: MILPPlanner(pair.export(), 4, 1, mip_gap=1e-9).plan(priced(weight)) for weight in (0.0, 2.0)}
    for weight, plan in plans.items():
        assert plan.status == "optimal"
        with torch.no_grad():
            states = torch.from_numpy(plan.states)[None]
            expected = trajectory_cost(priced(weight), states, torch.from_numpy(plan.actions)[None])
        assert plan.objective == pytest.approx(float(expected[0]), rel=1e-7, abs=1e-7)
    main_cost = {w: plan.objective - w * np.abs(plan.states[1:, 2:]).sum() for w, plan in plans.items()}
    disagreement = {w: np.abs(plan.states[1:, 2:]).sum() for w, plan in plans.items()}
    assert disagreement[2.0] <= disagreement[0.0] + 1e-7
    assert main_cost[0.0] <= main_cost[2.0] + 1e-7


@pytest.fixture(scope="module")
def pushing():
    env = gymnasium.make("sparsedyn/ObjectPushing-v0", obstacles=1)
    observation, info = env.reset(seed=2)
    return env, observation.astype(np.float64), info


def test_a_disagreement_weight_prices_unobserved_entries_the_observed_task_drops(pushing):
    env, observation, info = pushing
    metadata = env.unwrapped.dataset_metadata()
    plain = ControlSettings()
    settings = dataclasses.replace(plain, disagreement_weight=3.0)
    goals = len(metadata["goal_indices"])
    task, untouched = control_task(metadata, settings), control_task(metadata, plain)
    assert task.unobserved == goals and untouched.unobserved == 0
    n = len(observation)
    problem = task.problem(observation, goal_features(task, env.unwrapped.goal))
    np.testing.assert_array_equal(problem.state, np.r_[observation, np.zeros(goals)])
    np.testing.assert_array_equal(problem.cost_features(problem.state)[-goals:], np.zeros(goals))
    np.testing.assert_array_equal(problem.state_weights[-goals:], 3.0)
    assert np.isinf(problem.workspace_high[n:]).all() and np.isinf(problem.workspace_low[n:]).all()
    disagreeing = problem.state.copy()
    disagreeing[n:] = 0.5
    features = problem.cost_features(disagreeing)
    np.testing.assert_array_equal(features[:-goals], untouched.cost_matrix @ observation)
    np.testing.assert_array_equal(features[-goals:], 0.5)

    with_both = with_obstacles(task, metadata, info["obstacles"], observation, settings)
    plain_obstacles = with_obstacles(untouched, metadata, info["obstacles"], observation, plain)
    assert with_both.obstacles[0].points.shape[-1] == n + goals
    observed = observed_task(with_both)
    for field in dataclasses.fields(observed):
        value, expected = getattr(observed, field.name), getattr(plain_obstacles, field.name)
        if field.name == "obstacles":
            for mine, theirs in zip(value, expected, strict=True):
                np.testing.assert_array_equal(mine.points, theirs.points)
        elif isinstance(value, np.ndarray):
            np.testing.assert_array_equal(value, expected)
        else:
            assert value == expected, field.name
    assert observed_task(untouched) is untouched
    for weight in (-1.0, float("nan")):
        with pytest.raises(ProblemError, match="disagreement_weight must be a non-negative number"):
            control_task(metadata, dataclasses.replace(plain, disagreement_weight=weight))
