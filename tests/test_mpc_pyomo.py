"""The Pyomo export is the same program: named variables, same optimum with appsi_highs."""

from __future__ import annotations

import numpy as np
import pyomo.environ as pyo
import pytest
from test_mpc_planner import tiny_model, tiny_problem

from dynamics.frozen import rollout
from mpc.milp.highs import solve_program
from mpc.milp.planner import MILPPlanner
from mpc.milp.pyomo_export import to_pyomo


def appsi_highs():
    solver = pyo.SolverFactory("appsi_highs")
    if not solver.available():
        pytest.skip("Pyomo's appsi_highs interface is not available")
    solver.config.mip_gap = 1e-9
    solver.highs_options = {"threads": 1}
    return solver


@pytest.mark.parametrize("seed, horizon", [(3, 2), (4, 3), (5, 3)])
def test_pyomo_model_has_the_fast_path_optimum(seed, horizon):
    model = tiny_model(seed)
    resting = rollout(model.export(), tiny_problem(seed, horizon).state, np.zeros((horizon, 1)))
    keep_below = np.array([resting[1:, 1].max() + 0.01])  # a half-plane that resting satisfies
    problem = tiny_problem(seed, horizon, state_constraints=(np.array([[0.0, 1.0]]), keep_below))
    horizon_program = MILPPlanner(model.export(), 2, 1).build(problem)
    fast = solve_program(horizon_program.program, mip_rel_gap=1e-9)

    pyomo_model = to_pyomo(horizon_program.program)
    result = appsi_highs().solve(pyomo_model)
    assert result.solver.termination_condition == pyo.TerminationCondition.optimal
    assert pyo.value(pyomo_model.cost) == pytest.approx(fast.objective, rel=1e-7, abs=1e-7)

    program = horizon_program.program
    states = np.array([[pyomo_model.x[t, i].value for i in range(2)] for t in range(horizon + 1)])
    actions = np.array([[pyomo_model.u[t, 0].value] for t in range(horizon)])
    np.testing.assert_allclose(states[0], problem.state)
    values = horizon_program.primal_point(actions)
    np.testing.assert_allclose(states, values[program.state_columns], atol=1e-6)


def test_user_constraints_on_named_variables_are_respected():
    model = tiny_model(5)
    problem = tiny_problem(5, horizon=3)
    pyomo_model = to_pyomo(MILPPlanner(model.export(), 2, 1).build(problem).program)
    unconstrained = appsi_highs().solve(pyomo_model)
    assert unconstrained.solver.termination_condition == pyo.TerminationCondition.optimal
    free_cost, free_first_action = pyo.value(pyomo_model.cost), pyomo_model.u[0, 0].value

    pyomo_model.first_action = pyo.Constraint(expr=pyomo_model.u[0, 0] <= free_first_action - 0.5)
    appsi_highs().solve(pyomo_model)
    assert pyomo_model.u[0, 0].value <= free_first_action - 0.5 + 1e-7
    assert pyo.value(pyomo_model.cost) >= free_cost - 1e-7
    assert isinstance(pyomo_model.x, pyo.Var) and isinstance(pyomo_model.u, pyo.Var)
