"""The MILP planner finds the global optimum of tiny models and fails with typed errors."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import random_network

from dynamics.frozen import FrozenLayer, FrozenNetwork, rollout
from dynamics.gates import NeuronKind
from dynamics.mlp import MLPDynamics
from mpc.errors import InfeasibleError, NoIncumbentError, ProblemError
from mpc.milp.highs import solve_program
from mpc.milp.planner import MILPPlanner
from mpc.problem import PlanningProblem, trajectory_cost
from mpc.sampling.base import evaluate


def tiny_model(seed: int, state_dim: int = 2, action_dim: int = 1, hidden=(5, 4)) -> MLPDynamics:
    """A random torch dynamics model (float64) with ReLU, identity and zero neurons."""
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    model = MLPDynamics(state_dim, action_dim, hidden=hidden).double().eval()
    model.set_kinds([rng.choice(list(NeuronKind), size=width, p=[0.2, 0.2, 0.6]) for width in hidden])
    with torch.no_grad():  # stronger weights than the initialisation: more ReLUs switch inside the box
        for linear in model.net.linears:
            linear.weight.mul_(3.0)
    return model


def tiny_problem(seed: int, horizon: int, state_dim: int = 2, action_dim: int = 1, **extra) -> PlanningProblem:
    """A goal near states the models reach, so optima lie inside the action box, not on its corners."""
    rng = np.random.default_rng(seed + 1)
    fields = dict(
        state=rng.normal(size=state_dim),
        goal=rng.normal(scale=0.5, size=state_dim),
        horizon=horizon,
        action_low=-np.ones(action_dim),
        action_high=np.ones(action_dim),
        state_weights=np.full(state_dim, 0.5),
        terminal_weights=np.full(state_dim, 2.0),
        action_weight=0.1,
        time_limit=60.0,
    )
    return PlanningProblem(**(fields | extra))


def candidate_actions(problem: PlanningProblem, seed: int, points_per_axis: int = 31, samples: int = 20000):
    """A dense grid over every action sequence plus uniform random sequences, (B, H, m)."""
    axis = np.linspace(-1, 1, points_per_axis)
    grid = np.array(list(itertools.product(axis, repeat=problem.horizon * problem.action_dim)))
    rng = np.random.default_rng(seed)
    random = rng.uniform(-1, 1, size=(samples, problem.horizon * problem.action_dim))
    return torch.from_numpy(np.concatenate([grid, random]).reshape(-1, problem.horizon, problem.action_dim))


def torch_cost(model, problem, actions):
    with torch.no_grad():
        sequences = torch.as_tensor(actions, dtype=torch.float64).reshape(-1, problem.horizon, problem.action_dim)
        costs, states = evaluate(model, problem, sequences)
    return costs.numpy(), states.numpy()


@settings(max_examples=6, deadline=None)
@given(st.integers(0, 2**16), st.sampled_from([1, 2, 3]))
def test_optimum_beats_dense_grid_and_random_search_on_the_torch_model(seed, horizon):
    model = tiny_model(seed)
    problem = tiny_problem(seed, horizon)
    plan = MILPPlanner(model.export(), 2, 1, mip_gap=1e-9).plan(problem)
    assert plan.status == "optimal"

    replayed_cost, replayed_states = torch_cost(model, problem, plan.actions)
    assert plan.objective == pytest.approx(replayed_cost[0], rel=1e-7, abs=1e-7)
    np.testing.assert_allclose(plan.states, replayed_states[0], atol=1e-7)
    assert plan.best_bound <= plan.objective + 1e-6

    sampled_costs, _ = torch_cost(model, problem, candidate_actions(problem, seed))
    assert plan.objective <= sampled_costs.min() + 1e-6 * (1 + abs(sampled_costs.min()))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_scip_backend_reaches_the_optimum_highs_proves(seed):
    model = tiny_model(seed)
    problem = tiny_problem(seed, horizon=3)
    highs = MILPPlanner(model.export(), 2, 1, mip_gap=1e-9).plan(problem)
    scip = MILPPlanner(model.export(), 2, 1, mip_gap=1e-9, solver="scip").plan(problem)
    assert highs.status == scip.status == "optimal"
    assert scip.objective == pytest.approx(highs.objective, rel=1e-6, abs=1e-6)
    assert scip.best_bound <= highs.objective + 1e-6 and scip.extras["solver"] == "scip"
    with pytest.raises(ProblemError, match="solver"):
        MILPPlanner(model.export(), 2, 1, solver="gurobi")


def test_scip_backend_raises_the_same_typed_errors():
    model = tiny_model(1)
    contradictory = tiny_problem(
        1, horizon=2, state_constraints=(np.array([[1.0, 0.0], [-1.0, 0.0]]), np.array([0.0, -1.0]))
    )
    with pytest.raises(InfeasibleError):
        MILPPlanner(model.export(), 2, 1, bounds="interval", solver="scip").plan(contradictory)


@pytest.mark.parametrize("bounds", ["interval", "lp"])
def test_optimum_respects_workspace_and_state_constraints(bounds):
    model = tiny_model(3)
    free = tiny_problem(3, horizon=2)
    candidates = candidate_actions(free, seed=3)
    _, free_states = torch_cost(model, free, candidates)
    # A keep-out half-plane and a workspace box that some candidate trajectories leave.
    median = np.median(free_states[:, 1:, 0].max(axis=1))
    below = free_states[free_states[:, 1:, 0].max(axis=1) <= median]
    workspace_low = np.array([-np.inf, np.quantile(below[:, 1:, 1].min(axis=1), 0.3)])
    problem = tiny_problem(
        3,
        horizon=2,
        state_constraints=(np.array([[1.0, 0.0]]), np.array([median])),
        workspace_low=workspace_low,
        workspace_high=np.full(2, np.inf),
    )
    plan = MILPPlanner(model.export(), 2, 1, bounds=bounds, mip_gap=1e-9).plan(problem)
    assert np.all(plan.states[1:, 0] <= median + 1e-6)
    assert np.all(plan.states[1:] >= workspace_low - 1e-6)

    costs, states = torch_cost(model, problem, candidates)
    allowed = np.all(states[:, 1:, 0] <= median, axis=1) & np.all(states[:, 1:] >= workspace_low, axis=(1, 2))
    assert allowed.any()
    assert plan.objective <= costs[allowed].min() + 1e-6


def test_warm_start_is_used_and_a_time_limit_returns_the_incumbent_with_its_gap():
    rng = np.random.default_rng(0)
    network = random_network(rng, 4, 2, [np.full(16, 2), np.full(16, 2)])
    warm_start = np.zeros((4, 2))
    problem = tiny_problem(0, horizon=4, state_dim=4, action_dim=2, warm_start=warm_start, time_limit=1e-6)
    planner = MILPPlanner(network, 4, 2)
    plan = planner.plan(problem)
    assert plan.status == "time_limit"
    horizon_program = planner.build(problem)
    warm_cost = horizon_program.program.objective(horizon_program.primal_point(warm_start))
    assert plan.objective <= warm_cost + 1e-9
    assert plan.gap is not None and plan.gap > 0
    assert plan.binaries > 0 and plan.build_time > 0 and plan.wall_time >= plan.build_time


def test_time_limit_without_incumbent_raises_a_typed_error():
    rng = np.random.default_rng(0)
    network = random_network(rng, 4, 2, [np.full(16, 2), np.full(16, 2)])
    free = tiny_problem(0, horizon=4, state_dim=4, action_dim=2)
    # x_t[0] >= limit for t >= 1: the default start (the action box centre) breaks it, others do not.
    lowest = rollout(network, free.state, rng.uniform(-1, 1, size=(2000, 4, 2)))[:, 1:, 0].min(axis=1)
    resting = rollout(network, free.state, np.zeros((4, 2)))[1:, 0].min()
    assert lowest.max() > resting
    constraint = (-np.eye(4)[:1], -np.array([(lowest.max() + resting) / 2]))
    problem = tiny_problem(0, horizon=4, state_dim=4, action_dim=2, time_limit=1e-6, state_constraints=constraint)
    with pytest.raises(NoIncumbentError):
        MILPPlanner(network, 4, 2).plan(problem)
    with pytest.raises(NoIncumbentError):
        solve_program(MILPPlanner(network, 4, 2).build(free).program, time_limit=1e-6)


def test_contradictory_state_constraints_raise_infeasible():
    model = tiny_model(1)
    problem = tiny_problem(1, horizon=2, state_constraints=(np.array([[1.0, 0.0], [-1.0, 0.0]]), np.array([0.0, -1.0])))
    for bounds in ("interval", "lp"):
        with pytest.raises(InfeasibleError):
            MILPPlanner(model.export(), 2, 1, bounds=bounds).plan(problem)


def test_a_workspace_the_model_cannot_reach_raises_infeasible():
    model = tiny_model(1)
    problem = tiny_problem(1, horizon=2, workspace_low=np.full(2, 1e6), workspace_high=np.full(2, 2e6))
    with pytest.raises(InfeasibleError, match="workspace"):
        MILPPlanner(model.export(), 2, 1).plan(problem)


def test_mismatched_dimensions_and_non_finite_inputs_raise_problem_errors():
    network = tiny_model(2).export()
    with pytest.raises(ProblemError, match="maps 3 inputs"):
        MILPPlanner(network, 3, 1)
    with pytest.raises(ProblemError, match="bounds"):
        MILPPlanner(network, 2, 1, bounds="exact")
    planner = MILPPlanner(network, 2, 1)
    with pytest.raises(ProblemError, match="3 states"):
        planner.plan(tiny_problem(2, horizon=2, state_dim=3))
    with pytest.raises(ProblemError, match="warm_start"):
        planner.plan(tiny_problem(2, horizon=2, warm_start=np.full((2, 1), np.nan)))
    with pytest.raises(ProblemError, match="workspace"):
        planner.plan(tiny_problem(2, horizon=2, workspace_low=np.full(2, np.nan), workspace_high=np.ones(2)))
    with pytest.raises(ProblemError, match="non-finite"):
        tiny_problem(2, horizon=2, goal=np.array([np.inf, 0.0]))


def test_returned_actions_attain_the_reported_optimum_when_presolve_settles_the_program():
    """Regression (found by hypothesis): HiGHS 1.16 reported the optimum 9.9514 but handed back the
    start's values (actions 0, cost 10.42); the solver now checks the point against the objective."""
    network = FrozenNetwork(
        layers=(
            FrozenLayer(
                np.array(
                    [
                        [-0.15921497959599087, -0.04675182970353729, -0.3662554541331166, 0.0527071717894677],
                        [0.4759345934454396, 0.028754756041459266, 0.5402019671253724, 0.317670616544595],
                        [-0.8029750980564964, -0.3071566044948359, -0.06039294598556235, -0.567796488475697],
                    ]
                ),
                np.array([-0.4192825369616573, -0.10083623599873072, 0.17273371633894702]),
                np.array([True, True, False]),
            ),
            FrozenLayer(
                np.array(
                    [
                        [-0.4158291978476402, 0.9072062118715019, 1.016406324948064],
                        [-0.19828294217660897, -0.7584285207281947, -0.6613062774546616],
                        [-0.5613404646964025, -0.3427080399044806, -0.412822793443796],
                    ]
                ),
                np.array([-0.1070224994187479, -0.7021048963872222, -0.3474440682696237]),
                np.zeros(3, dtype=bool),
            ),
        ),
        skip=np.eye(3, 4),
    )
    problem = PlanningProblem(
        state=[-0.9370964551248627, 1.1829543826662987, -0.1968588590472831],
        goal=[0.9636788153037972, -0.4352055440152571, 1.2479641624551452],
        horizon=3, action_low=[-1.0], action_high=[1.0],
        state_weights=[0.0745424555162818, 0.0, 0.5129640165707071],
        terminal_weights=[0.1686517557419982, 1.0814287045485462, 1.848116877826939],
        action_weight=0.3, time_limit=30.0,
    )  # fmt: skip
    plan = MILPPlanner(network, 3, 1, bounds="interval", mip_gap=1e-9).plan(problem)
    assert plan.status == "optimal"
    assert plan.objective == pytest.approx(plan.extras["program_objective"], rel=1e-9)
    grid = np.stack(np.meshgrid(*[np.linspace(-1, 1, 21)] * 3, indexing="ij"), axis=-1).reshape(-1, 3, 1)
    costs = trajectory_cost(problem, torch.from_numpy(rollout(network, problem.state, grid)), torch.from_numpy(grid))
    assert plan.objective <= float(costs.min()) + 1e-9


def test_a_solve_from_a_feasible_start_runs_without_feasibility_jump_unless_asked_for():
    from mpc.milp.highs import _run

    rng = np.random.default_rng(0)
    network = random_network(rng, 4, 2, [np.full(16, 2), np.full(16, 2)])
    problem = tiny_problem(0, horizon=4, state_dim=4, action_dim=2)
    horizon_program = MILPPlanner(network, 4, 2).build(problem)
    program, start = horizon_program.program, horizon_program.primal_point(np.zeros((4, 2)))

    def jump(start, options=None) -> bool:
        return _run(program, 0.01, 1e-4, 1, start, True, options).getOptionValue("mip_heuristic_run_feasibility_jump")[
            1
        ]

    assert not jump(start) and jump(None)
    assert jump(start, {"mip_heuristic_run_feasibility_jump": True})
    broken = start.copy()
    broken[program.state_columns[-1]] += 1.0  # a state off the rollout: the start breaks a row
    assert program.violation(broken) > 1e-3 and jump(broken)  # HiGHS ignores it and needs a first plan


def test_a_warm_start_that_leaves_the_workspace_gives_way_to_the_box_centre():
    rng = np.random.default_rng(0)
    network = random_network(rng, 4, 2, [np.full(16, 2), np.full(16, 2)])
    free = tiny_problem(0, horizon=4, state_dim=4, action_dim=2)
    # A workspace box just around the rollout of the box centre (standing still), which other sequences leave.
    resting = rollout(network, free.state, np.zeros((4, 2)))
    low, high = resting.min(axis=0) - 0.05, resting.max(axis=0) + 0.05
    actions = rng.uniform(-1, 1, size=(500, 4, 2))
    states = rollout(network, free.state, actions)
    warm = actions[np.any((states < low) | (states > high), axis=(1, 2))][0]
    problem = tiny_problem(
        0, horizon=4, state_dim=4, action_dim=2, warm_start=warm, workspace_low=low, workspace_high=high
    )
    planner = MILPPlanner(network, 4, 2, bounds="interval")
    horizon_program = planner.build(problem)
    program = horizon_program.program
    assert program.violation(horizon_program.primal_point(warm)) > 1e-3
    start = planner.start_point(problem, horizon_program, program)
    np.testing.assert_allclose(start, horizon_program.primal_point(np.zeros((4, 2))))
    assert program.violation(start) <= 1e-9
    kept = np.full((4, 2), 1e-3)  # a warm start that keeps to the box is HiGHS's start
    assert program.violation(horizon_program.primal_point(kept)) <= 1e-9
    np.testing.assert_allclose(
        planner.start_point(dataclasses.replace(problem, warm_start=kept), horizon_program, program),
        horizon_program.primal_point(kept),
    )
