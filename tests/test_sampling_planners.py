"""Sampling planners on a known linear system: x' = x + u, so the optimum is easy to reason about."""

import numpy as np
import pytest
import torch

from dynamics.evaluate import rollout
from mpc.problem import PlanningProblem, trajectory_cost
from mpc.sampling.cem import CEMPlanner
from mpc.sampling.gradient_descent import GradientDescentPlanner
from mpc.sampling.mppi import MPPIPlanner
from mpc.sampling.random_shooting import RandomShootingPlanner


class Integrator(torch.nn.Module):
    def forward(self, state, action):
        return state + action


def make_problem(horizon=4, warm_start=None):
    return PlanningProblem(
        state=np.zeros(2),
        goal=np.array([3.0, -2.0]),
        horizon=horizon,
        action_low=-np.ones(2),
        action_high=np.ones(2),
        state_weights=np.ones(2),
        terminal_weights=5 * np.ones(2),
        time_limit=30.0,
        warm_start=warm_start,
    )


def optimal_cost(problem):
    """Move at full speed toward the goal in each coordinate, then stay: the exact optimum."""
    actions = np.zeros((problem.horizon, 2))
    position = problem.state.copy()
    for t in range(problem.horizon):
        actions[t] = np.clip(problem.goal - position, -1, 1)
        position = position + actions[t]
    states = rollout(Integrator(), torch.as_tensor(problem.state), torch.as_tensor(actions)[None])
    return float(trajectory_cost(problem, states, torch.as_tensor(actions)[None])[0])


PLANNERS = {
    "mppi": lambda seed: MPPIPlanner(Integrator(), seed=seed, max_iterations=30),
    "cem": lambda seed: CEMPlanner(Integrator(), seed=seed, max_iterations=30),
    "random": lambda seed: RandomShootingPlanner(Integrator(), samples=512, seed=seed, max_iterations=30),
    "gd": lambda seed: GradientDescentPlanner(Integrator(), seed=seed, max_iterations=100),
}


@pytest.mark.parametrize("name", PLANNERS)
def test_planner_gets_close_to_the_optimum_inside_the_box(name):
    problem = make_problem()
    plan = PLANNERS[name](0).plan(problem)
    assert plan.actions.shape == (4, 2) and plan.states.shape == (5, 2)
    assert np.all(plan.actions >= -1 - 1e-6) and np.all(plan.actions <= 1 + 1e-6)
    start_cost = float(
        trajectory_cost(problem, torch.zeros(1, 5, 2, dtype=torch.float64), torch.zeros(1, 4, 2, dtype=torch.float64))[
            0
        ]
    )
    best = optimal_cost(problem)
    assert plan.objective >= best - 1e-4
    # Within a quarter of the way from the optimum to doing nothing.
    assert plan.objective <= best + 0.25 * (start_cost - best)
    # The reported states and objective belong to the reported actions.
    replay = rollout(Integrator(), torch.zeros(2, dtype=torch.float64), torch.as_tensor(plan.actions)[None])
    np.testing.assert_allclose(plan.states, replay[0].numpy(), atol=1e-5)
    assert plan.objective == pytest.approx(
        float(trajectory_cost(problem, replay, torch.as_tensor(plan.actions)[None])[0]), rel=1e-5
    )


@pytest.mark.parametrize("name", PLANNERS)
def test_planner_is_reproducible_for_a_seed(name):
    first = PLANNERS[name](3).plan(make_problem())
    second = PLANNERS[name](3).plan(make_problem())
    np.testing.assert_array_equal(first.actions, second.actions)
    assert first.extras["iterations"] == second.extras["iterations"]


@pytest.mark.parametrize("name", PLANNERS)
def test_planner_never_returns_worse_than_an_optimal_warm_start(name):
    problem = make_problem()
    best = optimal_cost(problem)
    optimal_actions = np.array([[1.0, -1.0], [1.0, -1.0], [1.0, 0.0], [0.0, 0.0]])
    plan = PLANNERS[name](1).plan(make_problem(warm_start=optimal_actions))
    assert plan.objective <= best + 1e-5


def test_gradient_descent_elites_are_the_cheapest_point_of_each_path():
    """One elite per start: with a zero learning rate every path stays at its start, so the elites are the K
    distinct starts (the cheapest sequences evaluated would be each start twice), cheapest first."""
    planner = GradientDescentPlanner(Integrator(), starts=6, learning_rate=0.0, seed=3, max_iterations=2, elites=32)
    problem = make_problem()
    plan = planner.plan(problem)
    elites, costs = plan.extras["elites"], plan.extras["elite_costs"]
    assert elites.shape == (6, 4, 2)
    assert len({row.tobytes() for row in elites}) == 6
    assert np.all(np.diff(costs) >= 0) and costs[0] == pytest.approx(plan.objective)
    actions = torch.as_tensor(elites)
    states = rollout(Integrator(), torch.as_tensor(problem.state), actions)
    np.testing.assert_allclose(trajectory_cost(problem, states, actions).numpy(), costs, rtol=1e-5)


def test_gradient_descent_elites_follow_the_paths():
    """With steps, each path's elite is its cheapest point: never dearer than where the path started."""
    still = GradientDescentPlanner(Integrator(), starts=8, learning_rate=0.0, seed=4, max_iterations=1, elites=8)
    moving = GradientDescentPlanner(Integrator(), starts=8, seed=4, max_iterations=40, elites=8)
    problem = make_problem()
    started, ended = (planner.plan(problem).extras["elite_costs"] for planner in (still, moving))
    assert ended.sum() < started.sum()
