"""The receding-horizon controller: warm starts, and falling back instead of crashing."""

import time

import numpy as np
import torch

from mpc.control.controller import MIN_PLANNING_TIME, RecedingHorizonController
from mpc.errors import NoIncumbentError
from mpc.problem import Plan, Task
from mpc.sampling.mppi import MPPIPlanner


class Integrator(torch.nn.Module):
    def forward(self, state, action):
        return state + action


class ScriptedPlanner:
    """Returns a fixed ramp plan, or raises NoIncumbentError on the calls listed in `fail_on`."""

    def __init__(self, fail_on=()):
        self.fail_on = set(fail_on)
        self.calls = 0
        self.warm_starts = []

    def plan(self, problem):
        self.calls += 1
        self.warm_starts.append(problem.warm_start)
        if self.calls in self.fail_on:
            raise NoIncumbentError("time limit reached with no feasible plan")
        actions = np.linspace(0.1, 0.4, problem.horizon)[:, None] * np.ones(problem.action_dim)
        return Plan(
            actions=actions,
            states=np.zeros((problem.horizon + 1, problem.state_dim)),
            objective=1.0,
            status="optimal",
            wall_time=0.0,
            gap=0.0,
        )


def make_controller(planner, fallback_planner=None):
    task = Task(
        horizon=4,
        action_low=-np.ones(2),
        action_high=np.ones(2),
        state_weights=np.ones(2),
        terminal_weights=np.ones(2),
        time_limit=1.0,
    )
    return RecedingHorizonController(planner, task, fallback_planner=fallback_planner)


def test_next_solve_is_warm_started_with_the_shifted_plan():
    planner = ScriptedPlanner()
    controller = make_controller(planner)
    action, record = controller.act(np.zeros(2), np.ones(2))
    np.testing.assert_allclose(action, [0.1, 0.1])
    assert planner.warm_starts[0] is None and not record.fallback
    controller.act(np.zeros(2), np.ones(2))
    np.testing.assert_allclose(planner.warm_starts[1][:, 0], [0.2, 0.3, 0.4, 0.4])


def test_failed_solve_falls_back_to_the_shifted_plan_and_says_so():
    controller = make_controller(ScriptedPlanner(fail_on={2}))
    controller.act(np.zeros(2), np.ones(2))
    action, record = controller.act(np.zeros(2), np.ones(2))
    assert record.fallback and "NoIncumbentError" in record.status
    np.testing.assert_allclose(action, [0.2, 0.2])
    # The step after a fallback is warm-started from the fallback plan shifted once more.
    action, record = controller.act(np.zeros(2), np.ones(2))
    assert not record.fallback


def test_first_step_is_warm_started_by_the_fallback_planner_and_falls_back_to_it():
    fallback = MPPIPlanner(Integrator(), seed=0, max_iterations=5)
    planner = ScriptedPlanner(fail_on={1})
    controller = make_controller(planner, fallback_planner=fallback)
    action, record = controller.act(np.zeros(2), np.array([1.0, -1.0]))
    assert planner.warm_starts[0] is not None
    assert record.fallback
    np.testing.assert_array_equal(action, planner.warm_starts[0][0])
    assert action[0] > 0 and action[1] < 0


def test_failure_on_the_first_step_without_fallback_planner_holds_still():
    controller = make_controller(ScriptedPlanner(fail_on={1}))
    action, record = controller.act(np.zeros(2), np.ones(2))
    assert record.fallback
    np.testing.assert_array_equal(action, [0.0, 0.0])


class SlowFallback(ScriptedPlanner):
    """A fallback planner that takes `seconds` to plan."""

    def __init__(self, seconds):
        super().__init__()
        self.seconds = seconds

    def plan(self, problem):
        time.sleep(self.seconds)
        return super().plan(problem)


class BudgetRecorder(ScriptedPlanner):
    """Records the time limit of every problem it plans."""

    def __init__(self):
        super().__init__()
        self.time_limits = []

    def plan(self, problem):
        self.time_limits.append(problem.time_limit)
        return super().plan(problem)


def test_the_first_steps_warm_start_counts_against_the_steps_budget():
    planner = BudgetRecorder()
    controller = make_controller(planner, fallback_planner=SlowFallback(0.3))  # the task's budget: 1 s
    controller.act(np.zeros(2), np.ones(2))
    assert planner.time_limits[0] <= 0.7  # what the warm start left
    controller.act(np.zeros(2), np.ones(2))
    assert planner.time_limits[1] > 0.99  # later steps need no warm start from the fallback planner
    starved = BudgetRecorder()
    make_controller(starved, fallback_planner=SlowFallback(1.1)).act(np.zeros(2), np.ones(2))
    assert starved.time_limits == [MIN_PLANNING_TIME]
