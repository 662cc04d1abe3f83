"""PlanningProblem validation (all in one place) and the list of plan statuses."""

import numpy as np
import pytest
import torch

from mpc.control.controller import RecedingHorizonController
from mpc.errors import NoIncumbentError, ProblemError
from mpc.problem import BUDGET, FALLBACK, PLAN_STATUSES, Obstacle, PlanningProblem, Task, step_costs
from mpc.sampling.cem import CEMPlanner
from mpc.sampling.gradient_descent import GradientDescentPlanner
from mpc.sampling.mppi import MPPIPlanner
from mpc.sampling.random_shooting import RandomShootingPlanner


class Integrator(torch.nn.Module):
    def forward(self, state, action):
        return state + action


def problem(**changes):
    fields = dict(
        state=np.zeros(2),
        goal=np.ones(2),
        horizon=3,
        action_low=-np.ones(2),
        action_high=np.ones(2),
        state_weights=np.ones(2),
        terminal_weights=np.ones(2),
        workspace_low=-5 * np.ones(2),
        workspace_high=5 * np.ones(2),
        time_limit=1.0,
    )
    return PlanningProblem(**(fields | changes))


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"workspace_low": np.array([np.nan, 0.0])}, "workspace box holds NaN"),
        ({"workspace_high": np.array([1.0, np.nan])}, "workspace box holds NaN"),
        ({"workspace_low": np.array([0.0, 2.0]), "workspace_high": np.array([1.0, 1.0])}, "workspace box is empty"),
        ({"workspace_high": None}, "both workspace_low and workspace_high"),
        ({"workspace_low": None}, "both workspace_low and workspace_high"),
        ({"warm_start": np.full((3, 2), np.nan)}, "warm_start holds non-finite"),
        ({"warm_start": np.full((3, 2), np.inf)}, "warm_start holds non-finite"),
        ({"warm_start": np.zeros((2, 2))}, "warm_start must have shape"),
        ({"time_limit": float("nan")}, "time_limit must be positive"),
        ({"time_limit": 0.0}, "time_limit must be positive"),
        ({"time_limit": float("inf")}, "time_limit must be positive and finite"),
        ({"action_weight": float("inf")}, "action_weight is not finite"),
        ({"action_low": np.array([0.0, 2.0])}, "action box is empty"),
        ({"discount": 0.0}, "discount must be in"),
        ({"discount": 1.5}, "discount must be in"),
        ({"discount": float("nan")}, "discount must be in"),
    ],
)
def test_a_malformed_problem_raises_when_it_is_made(changes, message):
    with pytest.raises(ProblemError, match=message):
        problem(**changes)


SQUARE = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]
PUSHER = [[[1.0, 0.0], [0.0, 1.0]]]  # the point (x0, x1)


def test_the_discount_prices_each_steps_goal_and_action_cost_but_not_its_obstacle_penalty():
    states = torch.tensor([[[0.0, 0.0], [0.5, 0.5], [0.2, 0.9], [0.6, 0.4]]], dtype=torch.float64)
    actions = torch.tensor([[[0.5, 0.5], [-0.3, 0.4], [0.4, -0.5]]], dtype=torch.float64)
    square = Obstacle(np.array(SQUARE), PUSHER)  # every state but the start lies inside it
    base = dict(action_weight=0.3, terminal_weights=np.full(2, 2.0), obstacles=[square])
    plain, discounted = (step_costs(problem(**base, discount=gamma), states, actions)[0] for gamma in (1.0, 0.5))
    penalty = plain - step_costs(problem(**base, obstacle_weight=0.0), states, actions)[0]
    np.testing.assert_allclose(discounted - penalty, (plain - penalty) * 0.5 ** torch.arange(3), rtol=1e-12)
    assert torch.all(penalty > 0)  # the penalty is there, and the discount left it whole
    np.testing.assert_array_equal(problem(discount=0.5).step_discounts(), [1.0, 0.5, 0.25])


@pytest.mark.parametrize(
    "obstacles, changes, message",
    [
        ([Obstacle(np.array([[0.0, 0.0], [1.0, 1.0]]), PUSHER)], {}, "V >= 3"),
        (
            [Obstacle(np.array([[0.0, 0.0], [1.0, 1.0], [1.0, 0.0], [0.0, 1.0]]), PUSHER)],
            {},
            "convex polygon, in order",
        ),
        ([Obstacle(np.array([[0.0, 0.0], [2.0, 0.0], [1.0, 0.5], [2.0, 1.0], [0.0, 1.0]]), PUSHER)], {}, "convex"),
        ([Obstacle(np.array([[0.0, 0.0], [0.0, 0.0], [1.0, 0.0], [1.0, 1.0]]), PUSHER)], {}, "repeated corner"),
        ([Obstacle(np.array(SQUARE), np.ones((1, 2, 3)))], {}, "must be \\(P, 2, 2\\)"),
        ([Obstacle(np.array(SQUARE), np.zeros((0, 2, 2)))], {}, "P >= 1"),
        ([Obstacle(np.array(SQUARE), PUSHER, margin=-0.1)], {}, "margins must be non-negative"),
        ([Obstacle(np.array(SQUARE), PUSHER, soft_margin=np.nan)], {}, "non-finite"),
        ([Obstacle(np.full((4, 2), np.inf), PUSHER)], {}, "non-finite"),
        ([Obstacle(np.array(SQUARE), PUSHER)], {"workspace_low": None, "workspace_high": None}, "finite workspace box"),
        ([Obstacle(np.array(SQUARE), PUSHER)], {"workspace_high": np.array([np.inf, 5.0])}, "finite workspace box"),
        ([Obstacle(np.array(SQUARE), PUSHER)], {"obstacle_weight": -1.0}, "obstacle_weight"),
        ([np.array(SQUARE)], {}, "Obstacle instances"),
    ],
)
def test_a_malformed_obstacle_raises_when_the_problem_is_made(obstacles, changes, message):
    with pytest.raises(ProblemError, match=message):
        problem(obstacles=obstacles, **changes)


def test_obstacles_in_either_orientation_and_an_unused_unbounded_entry_are_fine():
    first_entry = [[[1.0, 0.0], [0.0, 0.0]]]  # the point (x0, 0): x1 unused
    made = problem(
        obstacles=[Obstacle(np.array(SQUARE[::-1]), first_entry), Obstacle(np.array(SQUARE), first_entry, 0.5, 0.5)],
        workspace_low=np.array([-5.0, -np.inf]),
        workspace_high=np.array([5.0, np.inf]),
    )
    normals, offsets = made.obstacles[0].faces()
    np.testing.assert_allclose(normals, [[0.0, -1.0], [1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]], atol=1e-12)
    np.testing.assert_allclose(offsets, [0.0, 1.0, 1.0, 0.0])
    assert made.obstacles[1].points.dtype == np.float64 and made.obstacles[1].faces()[1][1] == pytest.approx(2.0)


def test_an_unbounded_workspace_entry_is_allowed():
    made = problem(workspace_low=np.array([-np.inf, 0.0]), workspace_high=np.array([np.inf, 1.0]))
    assert made.workspace_low[0] == -np.inf


def test_validate_catches_a_field_changed_in_place():
    made = problem()
    made.warm_start = np.full((3, 2), np.nan)
    with pytest.raises(ProblemError, match="warm_start"):
        made.validate()


@pytest.mark.parametrize("planner", [MPPIPlanner, CEMPlanner, RandomShootingPlanner, GradientDescentPlanner])
def test_sampling_planners_report_a_listed_status(planner):
    plan = planner(Integrator(), seed=0, max_iterations=2).plan(problem())
    assert plan.status == BUDGET and BUDGET in PLAN_STATUSES


class Failing:
    def plan(self, problem):
        raise NoIncumbentError("nothing in time")


def test_the_controller_fallback_status_is_listed():
    task = Task(
        horizon=3, action_low=-np.ones(2), action_high=np.ones(2), state_weights=np.ones(2), terminal_weights=np.ones(2)
    )
    _, record = RecedingHorizonController(Failing(), task).act(np.zeros(2), np.ones(2))
    assert record.status == f"{FALLBACK} (NoIncumbentError)"
    assert record.status.split(" ")[0] in PLAN_STATUSES
