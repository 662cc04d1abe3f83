"""Linear cost features (cost_matrix): the same cost for the MILP and for sampled sequences."""

import numpy as np
import pytest
import torch

from dynamics.mlp import MLPDynamics
from mpc.errors import ProblemError
from mpc.milp.planner import MILPPlanner
from mpc.problem import PlanningProblem, trajectory_cost
from mpc.sampling.base import evaluate

FEATURES = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, -1.0]])  # both entries, and their difference


def small_model():
    torch.manual_seed(1)
    model = MLPDynamics(2, 2, hidden=(6, 6)).double()
    model.set_kinds([np.array([2, 2, 1, 2, 0, 2]), np.array([2, 1, 2, 2, 2, 0])])
    return model.eval()


def problem(**changes):
    settings = dict(
        state=np.zeros(2),
        goal=np.array([1.0, -0.5, 0.0]),
        horizon=2,
        action_low=-np.ones(2),
        action_high=np.ones(2),
        state_weights=np.array([1.0, 1.0, 0.5]),
        terminal_weights=np.array([2.0, 2.0, 1.0]),
        cost_matrix=FEATURES,
        workspace_low=-10 * np.ones(2),
        workspace_high=10 * np.ones(2),
        time_limit=30.0,
    )
    return PlanningProblem(**{**settings, **changes})


def test_features_are_the_cost_matrix_times_the_state():
    states = torch.tensor([[[0.0, 0.0], [1.0, 2.0], [3.0, 1.0]]], dtype=torch.float64)
    cost = trajectory_cost(problem(), states, torch.zeros(1, 2, 2, dtype=torch.float64))
    # step 1: |1-1| + |2+0.5| + 0.5|(-1)-0| ; step 2 (terminal): 2|3-1| + 2|1+0.5| + 1|2-0|
    assert float(cost[0]) == pytest.approx(2.5 + 0.5 + 4.0 + 3.0 + 2.0)


def test_milp_optimum_with_features_beats_every_sampled_sequence():
    model = small_model()
    plan = MILPPlanner(model.export(), 2, 2).plan(problem())
    assert plan.status == "optimal"
    assert plan.extras["program_objective"] == pytest.approx(plan.objective, abs=1e-6)
    generator = torch.Generator().manual_seed(0)
    samples = torch.rand((20000, 2, 2), generator=generator, dtype=torch.float64) * 2 - 1
    with torch.no_grad():
        costs, _ = evaluate(model, problem(), samples)
    assert plan.objective <= float(costs.min()) + 1e-6


def test_goal_must_have_one_entry_per_feature():
    with pytest.raises(ProblemError, match="features"):
        problem(goal=np.zeros(2))
