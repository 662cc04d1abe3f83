"""The MILP warm-started by a sampling planner: never worse than the sampled plan on the model."""

import numpy as np
import pytest
import torch

from dynamics.mlp import MLPDynamics
from mpc.errors import InfeasibleError, NoIncumbentError
from mpc.milp.planner import MILPPlanner
from mpc.milp.warm_started import SamplingWarmStartedPlanner
from mpc.problem import PlanningProblem
from mpc.sampling.cem import CEMPlanner


def small_model():
    torch.manual_seed(0)
    model = MLPDynamics(2, 2, hidden=(6, 6))
    model.set_kinds([np.array([2, 2, 1, 2, 0, 2]), np.array([2, 1, 2, 2, 2, 0])])
    return model.eval()


def problem(time_limit=2.0):
    return PlanningProblem(
        state=np.zeros(2),
        goal=np.array([1.5, -1.0]),
        horizon=3,
        action_low=-np.ones(2),
        action_high=np.ones(2),
        state_weights=np.ones(2),
        terminal_weights=3 * np.ones(2),
        workspace_low=-10 * np.ones(2),
        workspace_high=10 * np.ones(2),
        time_limit=time_limit,
    )


def test_milp_improves_on_or_matches_the_sampled_plan():
    model = small_model()
    planner = SamplingWarmStartedPlanner(CEMPlanner(model, seed=0, max_iterations=2), MILPPlanner(model.export(), 2, 2))
    plan = planner.plan(problem())
    assert plan.status == "optimal"
    assert plan.objective <= plan.extras["sampled_objective"] + 1e-4
    assert np.all(np.abs(plan.actions) <= 1 + 1e-9)


class Failing:
    def __init__(self, error):
        self.error = error

    def plan(self, problem):
        raise self.error


@pytest.mark.parametrize("error", [NoIncumbentError("no incumbent"), InfeasibleError("leaves the workspace")])
def test_sampled_plan_is_returned_when_the_milp_finds_nothing(error):
    model = small_model()
    planner = SamplingWarmStartedPlanner(CEMPlanner(model, seed=0, max_iterations=2), Failing(error))
    plan = planner.plan(problem())
    assert plan.status == f"sampled (MILP: {error.__class__.__name__})"
    assert plan.objective == plan.extras["sampled_objective"]
