"""Region LPs are exact on their region, the walk over regions never goes uphill, and the anytime
MILP planner returns plans at least as good as its starts with a true lower bound."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import sparse_networks
from test_mpc_planner import candidate_actions, tiny_model, tiny_problem, torch_cost

from dynamics.frozen import rollout
from mpc.errors import NoIncumbentError, ProblemError
from mpc.milp import anytime
from mpc.milp.anytime import AnytimeMILPPlanner
from mpc.milp.highs import solve_program
from mpc.milp.local_branching import local_branching_program
from mpc.milp.planner import MILPPlanner
from mpc.milp.region import RegionOptimum, RegionSearch
from mpc.problem import Plan, PlanningProblem, trajectory_cost
from mpc.sampling.mppi import MPPIPlanner


def cost_of(problem: PlanningProblem, network, actions: np.ndarray) -> float:
    states = rollout(network, problem.state, actions)
    return float(trajectory_cost(problem, torch.from_numpy(states[None]), torch.from_numpy(actions[None]))[0])


def drawn_problem(state_dim: int, action_dim: int, rng: np.random.Generator, horizon: int) -> PlanningProblem:
    return PlanningProblem(
        state=rng.normal(size=state_dim), goal=rng.normal(size=state_dim), horizon=horizon,
        action_low=-np.ones(action_dim), action_high=np.ones(action_dim),
        state_weights=rng.uniform(0, 1, state_dim), terminal_weights=rng.uniform(0, 2, state_dim),
        action_weight=float(rng.uniform(0, 0.2)), time_limit=30.0,
    )  # fmt: skip


@settings(max_examples=25, deadline=None)
@given(sparse_networks(), st.integers(1, 3))
def test_region_optimum_is_a_plan_of_its_region_and_the_walk_never_goes_uphill(drawn, horizon):
    network, state_dim, action_dim, rng = drawn
    problem = drawn_problem(state_dim, action_dim, rng, horizon)
    horizon_program = MILPPlanner(network, state_dim, action_dim, bounds="interval").build(problem)
    search = RegionSearch(horizon_program)
    start = rng.uniform(-1, 1, size=(horizon, action_dim))
    pattern = search.pattern(start)
    optimum = search.solve(pattern)
    assert optimum is not None  # the start itself lies in its region
    actions = optimum.values[horizon_program.program.action_columns]
    # Exact on the model: the program's objective is the trajectory cost of the region optimum's actions,
    # and it is no worse than the start, which lies in the same region.
    assert cost_of(problem, network, actions) == pytest.approx(optimum.objective, rel=1e-6, abs=1e-6)
    assert optimum.objective <= cost_of(problem, network, start) + 1e-6
    # The optimum's own activation pattern agrees with the region's wherever a pre-activation is clearly signed.
    pre = optimum.values[search.pre]
    clear = np.abs(pre) > 1e-6
    np.testing.assert_array_equal(search.pattern(actions)[clear], pattern[clear])

    # The line search beyond the optimum: nothing without a step; a region it picks holds a cheaper optimum.
    assert search.extrapolated(actions, actions, optimum.objective) is None
    beyond = search.extrapolated(start, actions, optimum.objective)
    if beyond is not None:
        assert search.solve(beyond).objective < optimum.objective
    for walk in (search, RegionSearch(horizon_program, extrapolate=False)):  # with and without the line search
        walked = walk.descend(start)
        assert walked.objective <= optimum.objective + 1e-9
        walked_actions = walked.values[horizon_program.program.action_columns]
        assert cost_of(problem, network, walked_actions) == pytest.approx(walked.objective, rel=1e-6, abs=1e-6)


def test_the_line_search_finds_cheaper_regions_beyond_some_region_optima():
    found = 0
    for seed in range(10):
        problem = tiny_problem(seed, horizon=3)
        search = RegionSearch(MILPPlanner(tiny_model(seed).export(), 2, 1, bounds="interval").build(problem))
        start = np.random.default_rng(seed).uniform(-1, 1, size=(3, 1))
        optimum = search.solve(search.pattern(start))
        beyond = search.extrapolated(start, optimum.values[search.program.action_columns], optimum.objective)
        if beyond is not None:
            found += 1
            assert search.solve(beyond).objective < optimum.objective
    assert found >= 2  # 5 of these 10 when written


def test_descent_stops_at_a_deadline_and_an_infeasible_region_gives_none():
    model = tiny_model(4)
    problem = tiny_problem(4, horizon=3)
    horizon_program = MILPPlanner(model.export(), 2, 1, bounds="interval").build(problem)
    search = RegionSearch(horizon_program)
    assert search.descend(np.zeros((3, 1)), deadline=0.0) is None and search.lp_count == 0
    # No plan keeps its states in a box far from every reachable state: no region holds a plan.
    program = horizon_program.program
    lower, upper = program.col_lower.copy(), program.col_upper.copy()
    states = program.state_columns[1:].ravel()
    lower[states], upper[states] = 1e6, 2e6
    far = dataclasses.replace(program, col_lower=lower, col_upper=upper)
    search = RegionSearch(dataclasses.replace(horizon_program, program=far))
    assert search.solve(search.pattern(np.zeros((3, 1)))) is None and search.lp_count == 1


def test_a_region_lp_gets_the_time_to_its_deadline_however_long_earlier_lps_ran():
    # HiGHS holds a time limit against the run time of all the runs of one instance together: a descent late
    # in a step must still get its LP solved when the time left is shorter than the LPs before it took.
    problem = tiny_problem(4, horizon=3)
    search = RegionSearch(MILPPlanner(tiny_model(4).export(), 2, 1, bounds="interval").build(problem))
    pattern = search.pattern(np.zeros((3, 1)))
    began = time.perf_counter()
    while time.perf_counter() - began < 0.3:
        assert search.solve(pattern) is not None
    assert search.solve(pattern, deadline=time.perf_counter() + 0.2) is not None  # one LP takes about 1 ms


def test_no_region_lp_starts_with_less_time_left_than_the_shortest_lp_took():
    problem = tiny_problem(4, horizon=3)
    search = RegionSearch(MILPPlanner(tiny_model(4).export(), 2, 1, bounds="interval").build(problem))
    pattern = search.pattern(np.zeros((3, 1)))
    assert search.solve(pattern) is not None and search.shortest_lp > 0
    assert search.solve(pattern, deadline=time.perf_counter() + 0.5 * search.shortest_lp) is None
    assert search.lp_count == 1  # returned at once, no LP run
    assert search.solve(pattern, deadline=time.perf_counter() + 10.0) is not None and search.lp_count == 2


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_anytime_plan_beats_its_starts_and_its_bound_is_below_the_global_optimum(seed, one_thread):
    model = tiny_model(seed)
    warm_start = np.full((3, 1), 0.7)
    problem = tiny_problem(seed, horizon=3, warm_start=warm_start, time_limit=0.6)
    network = model.export()
    planner = AnytimeMILPPlanner(
        network, 2, 1, [MPPIPlanner(tiny_model(seed).float(), seed=seed, elites=16)], bounds="interval"
    )
    plan = planner.plan(problem)
    np.testing.assert_allclose(plan.states, rollout(network, problem.state, plan.actions), atol=1e-9)
    assert plan.objective == pytest.approx(cost_of(problem, network, plan.actions), rel=1e-9)
    assert np.all(plan.actions >= -1) and np.all(plan.actions <= 1)
    assert plan.objective <= cost_of(problem, network, warm_start) + 1e-9
    # The sampled objective is the float32 torch model's: equal plans differ by its rounding (1e-7 relative).
    assert plan.objective <= plan.extras["sampled_objective"] * (1 + 1e-6) + 1e-6
    assert plan.extras["descents"] >= 1 and plan.extras["region_lps"] >= 1

    exact = MILPPlanner(network, 2, 1, mip_gap=1e-9).plan(PlanningProblem(**{**problem.__dict__, "time_limit": 60.0}))
    assert exact.status == "optimal"
    grid_costs, _ = torch_cost(model, problem, candidate_actions(problem, seed, points_per_axis=21, samples=5000))
    best_known = min(exact.objective, float(grid_costs.min()))
    # Every reported bound is a true lower bound: never above the best plan anyone found.
    assert plan.best_bound is not None and plan.best_bound <= best_known + 1e-6
    assert 0.0 <= plan.gap <= 1.0 + 1e-12


def test_branch_and_bound_that_ran_past_its_limit_gets_that_much_less_next_time_or_none(one_thread, monkeypatch):
    """HiGHS sets a MIP up before it looks at its limit: the planner learns the lag from its last branch-and-bound."""
    model = tiny_model(3)
    problem = tiny_problem(3, horizon=3, warm_start=np.full((3, 1), 0.5), time_limit=1.0)
    planner = AnytimeMILPPlanner(
        model.export(), 2, 1, [MPPIPlanner(tiny_model(3).float(), seed=3, elites=8)], bounds="interval"
    )
    limits = []

    def set_up_slowly(program, time_limit, *args):  # runs to its limit, then 0.03 s more
        limits.append(time_limit)
        time.sleep(time_limit + 0.03)
        return solve_program(program, 1e-3, *args)

    monkeypatch.setattr(anytime, "solve_program", set_up_slowly)
    first = planner.plan(problem)
    assert len(limits) == 1 and planner.exact_lag >= 0.03
    second = planner.plan(problem)  # the reserve (0.1 s) holds twice the lag: a limit shortened by the lag
    assert len(limits) == 2 and limits[1] < 0.1 - 0.03 + 1e-3
    assert first.wall_time > 1.03 and second.wall_time < 1.03
    planner.exact_lag = 0.06  # twice that exceeds the reserve: no branch-and-bound, the search takes the reserve
    third = planner.plan(problem)
    assert len(limits) == 2 and third.best_bound == 0.0


def test_anytime_checks_the_problem_against_the_model():
    model = tiny_model(2).float()
    planner = AnytimeMILPPlanner(model.export(), 2, 1, [MPPIPlanner(model, elites=4)])
    with pytest.raises(ProblemError, match="3 states"):
        planner.plan(tiny_problem(2, horizon=2, state_dim=3))


def test_anytime_returns_the_sampled_plan_when_no_plan_keeps_the_model_in_the_workspace(one_thread):
    model = tiny_model(1)
    problem = tiny_problem(1, horizon=2, workspace_low=np.full(2, 1e6), workspace_high=np.full(2, 2e6), time_limit=0.3)
    planner = AnytimeMILPPlanner(model.export(), 2, 1, [MPPIPlanner(tiny_model(1).float(), elites=4)])
    plan = planner.plan(problem)
    assert plan.status == "sampled (MILP: InfeasibleError)"
    assert plan.objective == plan.extras["sampled_objective"]


def test_a_program_too_slow_for_the_budget_leaves_the_sampler_the_rest_and_never_a_worse_plan(one_thread, monkeypatch):
    """Region LPs slower than the budget (as on a large graph): the plan is the sampled one, within the budget."""
    model = tiny_model(1)
    problem = tiny_problem(1, horizon=3, warm_start=np.full((3, 1), 0.7), time_limit=0.4)
    planner = AnytimeMILPPlanner(
        model.export(), 2, 1, [MPPIPlanner(tiny_model(1).float(), seed=1, elites=8)], bounds="interval"
    )

    def slow_descent(self, actions, deadline=np.inf, pattern=None):  # takes the whole exploring time and finds nothing
        time.sleep(max(deadline - time.perf_counter(), 0.0))
        return None

    def no_incumbent(*args, **kwargs):  # nor does branch-and-bound in what is left
        raise NoIncumbentError()

    monkeypatch.setattr(RegionSearch, "descend", slow_descent)
    monkeypatch.setattr(anytime, "solve_program", no_incumbent)
    plan = planner.plan(problem)
    assert plan.status == "sampled (MILP: NoIncumbentError)" and plan.objective == plan.extras["sampled_objective"]

    # A region optimum dearer than any sample: the worst actions.
    def dear_descent(self, actions, deadline=np.inf, pattern=None):
        values = np.zeros(self.program.num_columns)
        values[self.program.action_columns] = 5.0
        return RegionOptimum(values, np.inf, None)

    monkeypatch.setattr(RegionSearch, "descend", dear_descent)
    plan = planner.plan(problem)  # the cheapest sample is a plan of the program here, so the plan is that sample
    assert plan.status in ("time_limit", "sampled (MILP: no better plan)")
    assert plan.objective == pytest.approx(cost_of(problem, model.export(), plan.actions), rel=1e-9)
    assert plan.objective <= plan.extras["sampled_objective"] + 1e-5


@settings(max_examples=20, deadline=None)
@given(sparse_networks(), st.integers(1, 2))
def test_local_branching_spans_the_region_at_k_0_the_whole_program_at_k_all(drawn, horizon):
    """k = 0: only the incumbent's pattern, whose optimum is its region's; k = every binary: the full program."""
    network, state_dim, action_dim, rng = drawn
    problem = drawn_problem(state_dim, action_dim, rng, horizon)
    horizon_program = MILPPlanner(network, state_dim, action_dim, bounds="interval").build(problem)
    program, search = horizon_program.program, RegionSearch(horizon_program)
    region = search.solve(search.pattern(rng.uniform(-1, 1, size=(horizon, action_dim))))
    assert region is not None
    nearest = local_branching_program(program, region.values, 0)
    assert nearest.num_rows == program.num_rows + 1 and nearest.violation(region.values) <= 1e-9
    assert solve_program(nearest).objective == pytest.approx(region.objective, rel=1e-6, abs=1e-6)
    everything = local_branching_program(program, region.values, program.num_binaries)
    assert solve_program(everything).objective == pytest.approx(solve_program(program).objective, rel=1e-6, abs=1e-6)
    with pytest.raises(ValueError, match="k must be"):
        local_branching_program(program, region.values, -1)


def test_anytime_with_local_branching_keeps_the_plan_exact_on_the_model(one_thread):
    model = tiny_model(4)
    problem = tiny_problem(4, horizon=3, time_limit=1.0)
    planner = AnytimeMILPPlanner(
        model.export(), 2, 1, [MPPIPlanner(model.float(), seed=0, elites=8)], local_branching=3
    )
    plan = planner.plan(problem)
    assert plan.extras["neighbourhoods"] >= 1
    assert plan.objective == pytest.approx(cost_of(problem, model.export(), plan.actions), rel=1e-6)
    assert plan.best_bound <= plan.objective + 1e-9


def test_anytime_samplers_are_chosen_by_name(one_thread):
    from mpc.errors import MPCError
    from mpc.planners import make_planner
    from mpc.sampling.gradient_descent import GradientDescentPlanner

    model = tiny_model(5).float()
    planner = make_planner("milp", model, anytime_samplers=("gd", "mppi"))
    assert [type(sampler) for sampler in planner.samplers] == [GradientDescentPlanner, MPPIPlanner]
    assert all(sampler.elites > 0 for sampler in planner.samplers)
    problem = tiny_problem(5, horizon=3, time_limit=0.6)
    plan = planner.plan(problem)
    assert plan.extras["rounds"] >= 1 and plan.objective <= plan.extras["sampled_objective"] * (1 + 1e-6) + 1e-6
    with pytest.raises(MPCError, match="anytime_samplers"):
        make_planner("milp", model, anytime_samplers=("random",))


def test_constant_sequences_point_at_the_box_corners_and_faces_cheapest_first():
    model = tiny_model(3, action_dim=2)
    # The second action entry has a zero-width box: it stays at its value in every sequence.
    problem = tiny_problem(
        3, horizon=3, action_dim=2, action_low=np.array([-1.0, 0.5]), action_high=np.array([3.0, 0.5])
    )
    horizon_program = MILPPlanner(model.export(), 2, 2, bounds="interval").build(problem)
    sequences = anytime.constant_sequences(problem, horizon_program)
    assert sequences.shape == (2 * (3**2 - 1), 3, 2)
    np.testing.assert_array_equal(sequences, np.repeat(sequences[:, :1], 3, axis=1))  # the same action at every step
    first = {tuple(action) for action in sequences[:, 0]}
    # centre 1, half-width 2 on the first entry: the face centres and corners at full and half size.
    assert {(-1.0, 0.5), (3.0, 0.5), (0.0, 0.5), (2.0, 0.5), (1.0, 0.5)} == first
    program = horizon_program.program
    costs = [program.objective(horizon_program.primal_point(sequence)) for sequence in sequences]
    assert costs == sorted(costs)


class OneSequenceSampler:
    """A sampler stand-in that returns `actions` (H, m) at once, as its plan and its only elite."""

    def __init__(self, network, actions: np.ndarray) -> None:
        self.network, self.actions = network, actions

    def plan(self, problem: PlanningProblem) -> Plan:
        states = rollout(self.network, problem.state, self.actions)
        objective = cost_of(problem, self.network, self.actions)
        return Plan(self.actions, states, objective, "budget", 0.0, extras={"elites": self.actions[None]})


@pytest.mark.parametrize("seed", [0, 4])
def test_anytime_descends_from_the_constant_sequences_too(seed, one_thread):
    model = tiny_model(seed)
    network = model.export()
    problem = tiny_problem(seed, horizon=3, time_limit=0.5)
    sampler = OneSequenceSampler(network, np.full((3, 1), -1.0))

    def planner(constant_starts: bool) -> AnytimeMILPPlanner:
        return AnytimeMILPPlanner(network, 2, 1, [sampler], bounds="interval", constant_starts=constant_starts)

    with_constants, without = planner(True).plan(problem), planner(False).plan(problem)
    assert without.extras["descents"] == 1  # the sampler's one sequence
    assert with_constants.extras["descents"] > 1
    # Every constant sequence was descended (the budget holds many rounds): the plan is at least as good as each
    # descent, and as the plan without them.
    search = RegionSearch(MILPPlanner(network, 2, 1, bounds="interval").build(problem))
    descents = [search.descend(sequence) for sequence in anytime.constant_sequences(problem, search.horizon_program)]
    assert with_constants.objective <= min(d.objective for d in descents if d is not None) + 1e-6
    assert with_constants.objective <= without.objective + 1e-6
    assert with_constants.objective == pytest.approx(cost_of(problem, network, with_constants.actions), rel=1e-9)


class SlowSampler(OneSequenceSampler):
    """A sampler stand-in whose one iteration takes `seconds` whatever its budget, as a real sampler's first does."""

    def __init__(self, network, actions: np.ndarray, seconds: float) -> None:
        super().__init__(network, actions)
        self.seconds, self.budgets = seconds, []

    def plan(self, problem: PlanningProblem) -> Plan:
        self.budgets.append(problem.time_limit)
        began = time.perf_counter()
        time.sleep(self.seconds)
        plan = super().plan(problem)
        plan.wall_time, plan.extras["iterations"] = time.perf_counter() - began, 1
        return plan


def test_no_sampling_round_starts_without_the_time_of_one_iteration(one_thread):
    """The round that would start too late for one iteration is not started: every round after the first got a
    budget of at least one iteration (the first, unknown until then, is the one measured)."""
    model = tiny_model(2)
    network = model.export()
    problem = tiny_problem(2, horizon=3, time_limit=0.4)
    sampler = SlowSampler(network, np.full((3, 1), -1.0), seconds=0.05)
    planner = AnytimeMILPPlanner(
        network, 2, 1, [sampler], bounds="interval", constant_starts=False, sampling_share=0.25, round_time=0.08
    )
    planner.plan(problem)
    assert len(sampler.budgets) >= 2
    assert min(sampler.budgets[1:]) >= 0.05
    assert planner.iteration_time[0] >= 0.05


@pytest.mark.parametrize("seed", [0, 4])
def test_in_a_trust_region_the_plan_is_the_best_near_the_first_rounds_plan(seed, one_thread):
    network = tiny_model(seed).export()
    problem = tiny_problem(seed, horizon=3, time_limit=0.5)
    anchor, radius = np.full((3, 1), 0.2), 0.1
    planner = AnytimeMILPPlanner(
        network, 2, 1, [OneSequenceSampler(network, anchor)], bounds="interval", trust_region=radius
    )
    plan = planner.plan(problem)
    assert np.all(np.abs(plan.actions - anchor) <= radius + 1e-9)
    assert plan.objective <= cost_of(problem, network, anchor) + 1e-9
    assert plan.objective == pytest.approx(cost_of(problem, network, plan.actions), rel=1e-9)
    assert plan.extras["rounds"] == 1 and plan.best_bound == 0.0  # branch-and-bound bounds the region only
    # With time to spare on a tiny model, branch-and-bound proves it the region's optimum ...
    program = MILPPlanner(network, 2, 1, bounds="interval").build(problem).program
    near = program.with_column_bounds(program.action_columns, anchor - radius, anchor + radius)
    assert plan.objective == pytest.approx(solve_program(near, 60.0, 1e-9).objective, rel=1e-6, abs=1e-6)
    # ... while the whole action box holds a cheaper plan, far from the anchor.
    everywhere = MILPPlanner(network, 2, 1, mip_gap=1e-9).plan(dataclasses.replace(problem, time_limit=60.0))
    assert everywhere.objective < plan.objective - 1e-6
    assert np.abs(everywhere.actions - anchor).max() > radius


@pytest.mark.parametrize("radius", [0.0, -1.0, float("inf"), float("nan")])
def test_a_trust_region_must_be_a_positive_distance(radius):
    with pytest.raises(ProblemError, match="trust_region"):
        AnytimeMILPPlanner(tiny_model(0).export(), 2, 1, [], trust_region=radius)
