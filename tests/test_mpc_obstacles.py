"""Obstacles in planning problems: the hinge penalty, the MILP's face disjunction (both MILP planners),
region LPs with the face binaries fixed and switched, and the Pyomo export."""

from __future__ import annotations

import dataclasses

import numpy as np
import pyomo.environ as pyo
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from test_mpc_planner import tiny_model
from test_mpc_pyomo import appsi_highs

from dynamics.frozen import FrozenLayer, FrozenNetwork, rollout
from mpc.errors import InfeasibleError, NoIncumbentError
from mpc.milp.anytime import AnytimeMILPPlanner
from mpc.milp.planner import MILPPlanner
from mpc.milp.pyomo_export import to_pyomo
from mpc.milp.region import RegionSearch
from mpc.problem import Obstacle, PlanningProblem, trajectory_cost
from mpc.sampling.mppi import MPPIPlanner

# A point mass in the plane: x' = x + u, the action box [-1.5, 1.5]^2 (a frozen network without hidden neurons).
INTEGRATOR = FrozenNetwork(
    (FrozenLayer(np.zeros((2, 4)), np.zeros(2), np.zeros(2, dtype=bool)),), np.array([[1.0, 0, 1, 0], [0, 1, 0, 1]])
)
SQUARE = np.array([[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]])


class TorchIntegrator(torch.nn.Module):
    def forward(self, state, action):
        return state + action


def blocked_problem(obstacles, **changes) -> PlanningProblem:
    """From (-3, 0) to (3, 0): the straight line runs through the square."""
    fields = dict(
        state=np.array([-3.0, 0.01]),
        goal=np.array([3.0, 0.0]),
        horizon=6,
        action_low=-1.5 * np.ones(2),
        action_high=1.5 * np.ones(2),
        state_weights=np.ones(2),
        terminal_weights=5 * np.ones(2),
        workspace_low=-5 * np.ones(2),
        workspace_high=5 * np.ones(2),
        obstacles=obstacles,
        time_limit=10.0,
    )
    return PlanningProblem(**(fields | changes))


def boxed_in_problem(**changes) -> PlanningProblem:
    """Left of a large square, with a workspace box that ends inside it: the next state cannot keep out, so the
    program is infeasible."""
    return blocked_problem(
        [Obstacle.of_entries(SQUARE * 4, [[0, 1]], 2)],
        **(
            dict(
                state=np.array([-4.5, 0.0]),
                horizon=1,
                workspace_low=np.array([-3.9, -0.5]),
                workspace_high=np.array([5.0, 0.5]),
            )
            | changes
        ),
    )


def cost(problem: PlanningProblem, network, actions: np.ndarray) -> float:
    states = rollout(network, problem.state, actions)
    return float(trajectory_cost(problem, torch.from_numpy(states[None]), torch.from_numpy(actions[None]))[0])


def test_penalty_is_the_hinge_on_the_signed_distance_and_zero_when_clear():
    problem = blocked_problem([Obstacle.of_entries(SQUARE, [[0, 1]], 2, margin=0.5, soft_margin=0.25)])
    # The square moved out by 0.75: (-1, 0) is 0.75 deep (nearest face x = -1.75), 0.5 past the soft band;
    # (-4, 0) and (4, 4) are outside (depth <= 0).
    states = np.array([[[-3.0, 0.0], [-1.0, 0.0], [-4.0, 0.0]], [[-3.0, 0.0], [-4.0, 0.0], [4.0, 4.0]]])
    np.testing.assert_allclose(problem.obstacle_depths(states)[..., 0], [[0.75, -2.25], [-2.25, -2.25]])
    torch_states = torch.from_numpy(states)
    free = dataclasses.replace(problem, obstacles=())
    actions = torch.zeros(2, 6, 2)
    penalty = trajectory_cost(problem, torch_states, actions[:, :2]) - trajectory_cost(
        free, torch_states, actions[:, :2]
    )
    np.testing.assert_allclose(penalty.numpy(), [problem.obstacle_weight * 0.75, 0.0])
    assert problem.predicts_collision(states[0]) and not problem.predicts_collision(states[1])


def regular(sides: int, radius: float, centre, turn: float) -> np.ndarray:
    angles = turn + 2 * np.pi * np.arange(sides) / sides
    return np.asarray(centre) + radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(3, 7))
def test_penalty_is_never_negative_and_vanishes_outside(seed, sides):
    rng = np.random.default_rng(seed)
    corners = regular(sides, rng.uniform(0.5, 2.0), rng.uniform(-1, 1, 2), rng.uniform(0, 2 * np.pi))
    obstacle = Obstacle.of_entries(
        corners, [[0, 1], [1, 0]], 2, margin=rng.uniform(0, 0.5), soft_margin=rng.uniform(0, 1)
    )
    problem = blocked_problem([obstacle], horizon=3)
    states = torch.from_numpy(rng.uniform(-4, 4, size=(256, 4, 2)))
    free = dataclasses.replace(problem, obstacles=())
    actions = torch.zeros(256, 3, 2)
    penalty = (trajectory_cost(problem, states, actions) - trajectory_cost(free, states, actions)).numpy()
    assert np.all(penalty >= -1e-12)
    normals, offsets = obstacle.faces()
    points = torch.stack([states[:, 1:], states[:, 1:].flip(-1)], dim=2).numpy()  # (256, 3 steps, 2 points, 2)
    clear = np.all(np.any(points @ normals.T >= offsets, axis=-1), axis=(1, 2))  # every point beyond some face
    assert clear.any() and not clear.all()
    np.testing.assert_array_equal(penalty[clear], 0.0)
    assert np.all(penalty[~clear] > 0)


@pytest.mark.parametrize("soft_margin", [0.0, 0.3])
def test_both_milp_planners_go_around_and_never_predict_a_collision(soft_margin, one_thread):
    obstacle = Obstacle.of_entries(SQUARE, [[0, 1]], 2, margin=0.2, soft_margin=soft_margin)
    problem = blocked_problem([obstacle])
    exact = MILPPlanner(INTEGRATOR, 2, 2, bounds="interval", mip_gap=1e-9).plan(problem)
    anytime = AnytimeMILPPlanner(
        INTEGRATOR, 2, 2, [MPPIPlanner(TorchIntegrator().double(), seed=0, elites=8)], bounds="interval"
    ).plan(dataclasses.replace(problem, time_limit=1.0))
    straight = np.tile([1.0, 0.0], (6, 1))
    assert problem.predicts_collision(rollout(INTEGRATOR, problem.state, straight))
    assert exact.status == "optimal"
    for plan in (exact, anytime):
        assert not problem.predicts_collision(plan.states)
        assert plan.objective == pytest.approx(cost(problem, INTEGRATOR, plan.actions), rel=1e-7)
    # With a soft band the plan may dip into it, and pays for it: the program's cost is the trajectory cost.
    assert exact.extras["program_objective"] == pytest.approx(exact.objective, rel=1e-7)
    assert anytime.objective >= exact.objective - 1e-6  # a plan of the same program


def test_anytime_never_swaps_its_plan_for_a_cheaper_sample_that_collides(one_thread):
    """With no hinge weight, the fast straight push through the square is the cheapest sequence on the model
    (9.1 against 10.2 around it); it is the sampler's best, and the program's plan must still be returned."""
    obstacle = Obstacle.of_entries(SQUARE, [[0, 1]], 2, margin=0.2, soft_margin=0.0)
    problem = blocked_problem([obstacle], obstacle_weight=0.0, time_limit=1.0)
    straight = np.array([[1.5, 0.0]] * 4 + [[0.0, 0.0]] * 2)
    assert problem.predicts_collision(rollout(INTEGRATOR, problem.state, straight))
    plan = AnytimeMILPPlanner(
        INTEGRATOR, 2, 2, [MPPIPlanner(TorchIntegrator().double(), seed=0, elites=8)], bounds="interval"
    ).plan(dataclasses.replace(problem, warm_start=straight))
    assert plan.extras["sampled_objective"] < plan.objective - 1.0  # the sample was cheaper: it cut through
    assert not problem.predicts_collision(plan.states) and not plan.status.startswith("sampled")


@settings(max_examples=12, deadline=None)
@given(st.integers(0, 2**16), st.integers(1, 3), st.integers(3, 6))
def test_exact_and_anytime_plans_keep_every_point_out_on_random_models(seed, horizon, sides):
    rng = np.random.default_rng(seed)
    model = tiny_model(seed, state_dim=2, action_dim=2)
    network = model.export()
    corners = regular(sides, rng.uniform(0.3, 1.0), rng.uniform(-0.5, 0.5, 2), rng.uniform(0, 2 * np.pi))
    # Two points: the state itself and its mirror image (y, x), with a hard margin and a soft band.
    obstacle = Obstacle.of_entries(corners, [[0, 1], [1, 0]], 2, margin=0.1, soft_margin=float(rng.uniform(0, 0.3)))
    problem = PlanningProblem(
        state=rng.uniform(-3, 3, 2),
        goal=rng.uniform(-1, 1, 2),
        horizon=horizon,
        action_low=-np.ones(2),
        action_high=np.ones(2),
        state_weights=np.ones(2),
        terminal_weights=3 * np.ones(2),
        workspace_low=-6 * np.ones(2),
        workspace_high=6 * np.ones(2),
        obstacles=[obstacle],
        time_limit=5.0,
    )
    anytime = AnytimeMILPPlanner(
        network, 2, 2, [MPPIPlanner(tiny_model(seed, 2, 2).float(), seed=0, elites=8)], bounds="interval"
    )
    plans = [anytime.plan(dataclasses.replace(problem, time_limit=0.5))]
    try:
        plans.append(MILPPlanner(network, 2, 2, bounds="interval").plan(problem))
    except (InfeasibleError, NoIncumbentError):
        assert plans[0].status.startswith("sampled")  # no plan keeps out: the anytime planner has none either
    for plan in plans:
        if not plan.status.startswith("sampled"):
            assert not problem.predicts_collision(plan.states), plan.status
            assert plan.objective == pytest.approx(cost(problem, network, plan.actions), rel=1e-9)


def test_region_lps_keep_out_and_the_walk_never_goes_uphill():
    problem = blocked_problem([Obstacle.of_entries(SQUARE, [[0, 1]], 2, margin=0.2)])
    horizon_program = MILPPlanner(INTEGRATOR, 2, 2, bounds="interval").build(problem)
    search = RegionSearch(horizon_program)
    exact = MILPPlanner(INTEGRATOR, 2, 2, bounds="interval", mip_gap=1e-9).plan(problem)
    rng = np.random.default_rng(0)
    starts = [np.tile([1.0, 0.0], (6, 1)), *rng.uniform(-1.5, 1.5, (10, 6, 2))]  # the straight push collides
    for start in starts:
        first, walked = search.solve(search.pattern(start)), search.descend(start)
        if first is None:
            assert walked is None
            continue
        for optimum in (first, walked):
            actions = optimum.values[horizon_program.program.action_columns]
            assert not problem.predicts_collision(rollout(INTEGRATOR, problem.state, actions))
            assert optimum.objective == pytest.approx(cost(problem, INTEGRATOR, actions), rel=1e-7)
            assert optimum.objective >= exact.objective - 1e-6  # a plan of the program: never below its optimum
        assert walked.objective <= first.objective + 1e-9


def test_a_point_at_a_corner_switches_to_the_neighbouring_face_one_on_a_face_does_not():
    problem = blocked_problem([Obstacle.of_entries(SQUARE, [[0, 1]], 2, margin=0.2)])
    horizon_program = MILPPlanner(INTEGRATOR, 2, 2, bounds="interval").build(problem)
    (encoding,) = horizon_program.obstacles
    present = encoding.binaries >= 0
    # Steps 2 and 3 can reach the bottom (0) and the left face (3); step 1 is left of the square anyway.
    assert present[1:3, 0][:, [0, 3]].all() and not present[0].any()
    states = np.full((7, 2), 4.0)
    states[2] = [-1.2, -1.2]  # the corner of the left (face 3) and the bottom face (face 0), moved out by 0.2
    states[3] = [-1.2, 0.3]  # on the left face only
    chosen = np.zeros(encoding.binaries.shape, dtype=bool)
    chosen[..., 3] = True  # the left face everywhere
    values = np.zeros(horizon_program.program.num_columns)
    flips = np.zeros(encoding.binaries.shape, dtype=bool)
    flips[present] = encoding.switches(values, states, chosen[present])
    assert flips[1, 0, 0] and flips[1, 0, 3] and flips.sum() == 2


def test_a_point_that_starts_too_deep_may_stay_but_not_go_deeper():
    obstacle = Obstacle.of_entries(SQUARE, [[0, 1]], 2, margin=0.2)
    problem = blocked_problem([obstacle], state=np.array([-0.9, 0.0]))  # 0.3 inside the face moved out by 0.2
    ((_, _, limits),) = problem.keep_out()
    assert limits == pytest.approx([0.3])
    plan = MILPPlanner(INTEGRATOR, 2, 2, bounds="interval").plan(problem)
    assert not problem.predicts_collision(plan.states)
    assert np.all(problem.obstacle_depths(plan.states) <= 0.3 + 1e-7)


def test_a_state_box_inside_an_obstacle_makes_the_program_infeasible():
    problem = boxed_in_problem()
    with pytest.raises(InfeasibleError, match="cannot keep out"):
        MILPPlanner(INTEGRATOR, 2, 2, bounds="interval").build(problem)


def test_pyomo_export_names_the_obstacle_blocks_and_keeps_out():
    problem = blocked_problem([Obstacle.of_entries(SQUARE, [[0, 1]], 2, margin=0.2, soft_margin=0.3)], horizon=4)
    horizon_program = MILPPlanner(INTEGRATOR, 2, 2, bounds="interval").build(problem)
    model = to_pyomo(horizon_program.program)
    assert isinstance(model.obstacle0_face, pyo.Var) and isinstance(model.obstacle0_depth, pyo.Var)
    assert all(model.obstacle0_face[key].domain is pyo.Binary for key in model.obstacle0_face)
    assert len(list(model.obstacle0_face)) == horizon_program.obstacles[0].columns.size
    result = appsi_highs().solve(model)
    assert result.solver.termination_condition == pyo.TerminationCondition.optimal
    states = np.array([[model.x[t, i].value for i in range(2)] for t in range(5)])
    assert not problem.predicts_collision(states)
    exact = MILPPlanner(INTEGRATOR, 2, 2, bounds="interval", mip_gap=1e-9).plan(problem)
    assert pyo.value(model.cost) == pytest.approx(exact.extras["program_objective"], rel=1e-6, abs=1e-6)


def test_sampling_planners_pay_the_hinge_in_their_objective():
    problem = blocked_problem([Obstacle.of_entries(SQUARE, [[0, 1]], 2, margin=0.2)], obstacle_weight=50.0)
    plan = MPPIPlanner(TorchIntegrator(), seed=0, max_iterations=20).plan(problem)
    assert plan.objective == pytest.approx(cost(problem, INTEGRATOR, plan.actions), rel=1e-4)
    # The straight push pays 50 per unit of depth; the plan found goes round instead.
    straight = np.tile([1.0, 0.0], (6, 1))
    free = dataclasses.replace(problem, obstacles=())
    assert cost(problem, INTEGRATOR, straight) > cost(free, INTEGRATOR, straight) + 50.0
    assert plan.objective < cost(problem, INTEGRATOR, straight)


def test_predicts_collision_takes_a_batch_and_agrees_with_each_sequence():
    problem = blocked_problem([Obstacle.of_entries(SQUARE, [[0, 1]], 2, margin=0.2)])
    actions = np.random.default_rng(0).uniform(-1.5, 1.5, (3, 5, 6, 2))
    states = rollout(INTEGRATOR, problem.state, actions)
    batch = problem.predicts_collision(states)
    assert batch.shape == (3, 5) and batch.any() and not batch.all()
    assert batch.tolist() == [[problem.predicts_collision(one) for one in row] for row in states]
    assert not problem.predicts_collision(np.full((7, 2), np.nan))


class FixedSampler:
    """A sampler stand-in: its plan is the first of `elites` (E, H, m), and it hands all of them back."""

    def __init__(self, elites: np.ndarray) -> None:
        self.elites = elites

    def plan(self, problem: PlanningProblem):
        from mpc.problem import Plan

        actions = self.elites[0]
        states = rollout(INTEGRATOR, problem.state, actions)
        objective = cost(problem, INTEGRATOR, actions)
        return Plan(actions, states, objective, "time_limit", 0.0, extras={"elites": self.elites})


@pytest.mark.parametrize("with_a_clear_elite", [True, False])
def test_anytime_fallback_takes_the_cheapest_elite_that_keeps_out(with_a_clear_elite):
    # The program is infeasible (the workspace box ends inside the square), so the plan is sampled. The sampler's
    # plan pushes into the square (a light hinge: it is the cheapest); two elites step back left and keep out,
    # the nearer one is cheaper.
    problem = boxed_in_problem(obstacle_weight=1.0)
    into, far_back, near_back = [[1.0, 0.0]], [[-1.0, 0.0]], [[-0.2, 0.0]]
    elites = np.array([into, [[0.9, 0.0]], far_back, near_back] if with_a_clear_elite else [into, [[0.9, 0.0]]])
    plan = AnytimeMILPPlanner(INTEGRATOR, 2, 2, [FixedSampler(elites)], bounds="interval").plan(problem)
    assert plan.status.startswith("sampled")
    if with_a_clear_elite:
        np.testing.assert_allclose(plan.actions, near_back)
        assert not problem.predicts_collision(plan.states)
        assert plan.objective == pytest.approx(cost(problem, INTEGRATOR, plan.actions), rel=1e-9)
        assert plan.objective > cost(problem, INTEGRATOR, np.array(into))  # keeping out costs more than the collision
    else:
        np.testing.assert_allclose(plan.actions, into)  # nothing keeps out: the sampler's own plan
        assert problem.predicts_collision(plan.states)


class StartRecordingMILP:
    """A MILP planner stand-in on INTEGRATOR that keeps the warm start it is given and finds no plan."""

    network = INTEGRATOR

    def __init__(self) -> None:
        self.starts = []

    def plan(self, problem: PlanningProblem):
        self.starts.append(problem.warm_start)
        raise NoIncumbentError("no plan in the budget")


def test_milp_cem_starts_the_milp_from_the_cheapest_elite_that_keeps_out_and_falls_back_to_it():
    from mpc.milp.warm_started import SamplingWarmStartedPlanner

    problem = blocked_problem([Obstacle.of_entries(SQUARE, [[0, 1]], 2, margin=0.2)], obstacle_weight=1.0)
    straight = np.tile([1.0, 0.0], (6, 1))  # through the square
    up, down = straight.copy(), straight.copy()
    up[:2, 1], up[4:, 1] = 1.0, -1.0  # over the square and back down: keeps out
    down[:2, 1], down[4:, 1] = -1.5, 1.5  # under it, further: keeps out, dearer
    assert problem.predicts_collision(rollout(INTEGRATOR, problem.state, straight))
    assert cost(problem, INTEGRATOR, up) < cost(problem, INTEGRATOR, down)
    milp = StartRecordingMILP()
    plan = SamplingWarmStartedPlanner(FixedSampler(np.stack([straight, down, up])), milp).plan(problem)
    np.testing.assert_allclose(milp.starts[0], up)
    np.testing.assert_allclose(plan.actions, up)
    assert plan.status == "sampled (MILP: NoIncumbentError)" and not problem.predicts_collision(plan.states)
    assert plan.objective == pytest.approx(cost(problem, INTEGRATOR, up), rel=1e-9)


def test_the_cost_by_step_adds_up_to_the_trajectory_cost():
    from mpc.problem import step_costs

    problem = blocked_problem([Obstacle.of_entries(SQUARE, [[0, 1]], 2)], action_weight=0.5)
    rng = np.random.default_rng(0)
    states, actions = torch.from_numpy(rng.uniform(-3, 3, (16, 7, 2))), torch.from_numpy(rng.uniform(-1, 1, (16, 6, 2)))
    by_step = step_costs(problem, states, actions)
    assert by_step.shape == (16, 6)
    torch.testing.assert_close(by_step.sum(dim=1), trajectory_cost(problem, states, actions))
    # The last step is priced by the terminal weights (5 per unit), the others by the running weights (1).
    inside = (problem.obstacle_depths(states)[:, -1].clamp(min=0).sum(dim=1) * problem.obstacle_weight).numpy()
    distance = (states[:, -1] - torch.as_tensor(problem.goal)).abs().sum(dim=1).numpy()
    expected = 5 * distance + 0.5 * actions[:, -1].abs().sum(dim=1).numpy() + inside
    np.testing.assert_allclose(by_step[:, -1].numpy(), expected)
