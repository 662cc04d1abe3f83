"""The graph-model MILP: bounds are sound, fixed actions reproduce the rollout, the planner finds the optimum."""

from __future__ import annotations

import numpy as np
import pyomo.environ as pyo
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import IDENTITY, RELU, ZERO, random_network, sparse_networks
from test_mpc_encoding import check_primal_point, hidden_pre_activations, solve_with_fixed_actions
from test_mpc_pyomo import appsi_highs

from dynamics.frozen import EDGE_SETS, POSITION_DIM, FrozenGraph, rollout
from dynamics.graph import GraphDynamics
from mpc.milp.bounds.crown import linear_copy_bounds
from mpc.milp.bounds.interval import propagate_intervals
from mpc.milp.bounds.lp import lp_tightener
from mpc.milp.bounds.rollout import rollout_bounds
from mpc.milp.highs import solve_program
from mpc.milp.horizon import build_horizon_program
from mpc.milp.planner import BOUND_MODES, MILPPlanner
from mpc.milp.pyomo_export import to_pyomo
from mpc.problem import PlanningProblem, trajectory_cost

ACTION_DIM = 2


def random_kinds(rng, widths):
    return [rng.choice([ZERO, IDENTITY, RELU], size=width, p=[0.2, 0.2, 0.6]) for width in widths]


@st.composite
def sparse_graphs(draw):
    """(graph, rng): a FrozenGraph of random sparse edge and node networks on 1 to 3 objects, either edge set."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    message_dim = draw(st.integers(1, 3))
    edge_widths = draw(st.lists(st.integers(0, 5), min_size=1, max_size=2))
    node_widths = draw(st.lists(st.integers(0, 5), min_size=1, max_size=2))
    edge_in = POSITION_DIM + 1 + ACTION_DIM
    edge = random_network(rng, message_dim, edge_in - message_dim, random_kinds(rng, edge_widths), residual=False)
    node_in = edge_in + message_dim
    node = random_network(rng, POSITION_DIM, node_in - POSITION_DIM, random_kinds(rng, node_widths), residual=True)
    return FrozenGraph(edge, node, draw(st.integers(1, 3)), ACTION_DIM, draw(st.sampled_from(sorted(EDGE_SETS)))), rng


def make_problem(graph, horizon, rng):
    n = graph.state_dim
    return PlanningProblem(
        state=rng.normal(size=n),
        goal=rng.normal(size=n),
        horizon=horizon,
        action_low=-np.ones(ACTION_DIM),
        action_high=np.ones(ACTION_DIM),
        state_weights=rng.uniform(0, 1, n),
        terminal_weights=rng.uniform(0, 2, n),
        action_weight=0.1,
        time_limit=30.0,
    )


def build(graph, problem):
    bounds = rollout_bounds(graph, problem)
    return build_horizon_program(graph, problem, bounds), bounds


@settings(max_examples=40, deadline=None)
@given(sparse_networks())
def test_linear_copy_bounds_contain_every_neuron_and_lie_within_the_intervals(drawn):
    network, _, _, rng = drawn
    centre = rng.normal(size=(3, network.input_dim))
    radius = rng.uniform(0, 2, size=(3, network.input_dim))
    interval = propagate_intervals(network, centre - radius, centre + radius)
    linear = linear_copy_bounds(network, centre - radius, centre + radius)
    inputs = centre[:, None] + radius[:, None] * rng.uniform(-1, 1, size=(3, 300, network.input_dim))
    for layer, values in enumerate(hidden_pre_activations(network, inputs)):
        assert np.all(values >= linear.pre_low[layer][:, None] - 1e-9)
        assert np.all(values <= linear.pre_high[layer][:, None] + 1e-9)
        assert np.all(linear.pre_low[layer] >= interval.pre_low[layer]) and np.all(
            linear.pre_high[layer] <= interval.pre_high[layer]
        )
    outputs = network.forward(inputs)
    assert np.all(outputs >= linear.output_low[:, None] - 1e-9) and np.all(
        outputs <= linear.output_high[:, None] + 1e-9
    )


@settings(max_examples=30, deadline=None)
@given(sparse_graphs(), st.integers(1, 4), st.booleans())
def test_graph_bounds_contain_every_sampled_rollout(drawn, horizon, linear):
    graph, rng = drawn
    problem = make_problem(graph, horizon, rng)
    bounds = rollout_bounds(graph, problem, linear=linear)
    states = rollout(graph, problem.state, rng.uniform(-1, 1, size=(300, horizon, ACTION_DIM)))
    assert np.all(states >= bounds.state_low - 1e-9)
    assert np.all(states <= bounds.state_high + 1e-9)


@settings(max_examples=30, deadline=None)
@given(sparse_graphs(), st.integers(1, 3))
def test_forward_pass_is_a_feasible_point_costing_the_trajectory_cost(drawn, horizon):
    graph, rng = drawn
    problem = make_problem(graph, horizon, rng)
    horizon_program, bounds = build(graph, problem)
    actions = rng.uniform(-1, 1, size=(horizon, ACTION_DIM))
    states = rollout(graph, problem.state, actions)
    check_primal_point(horizon_program, bounds, graph, actions, states, violation=1e-8)


@settings(max_examples=25, deadline=None)
@given(sparse_graphs(), st.integers(1, 4))
def test_fixed_actions_give_the_graph_rollout(drawn, horizon):
    graph, rng = drawn
    problem = make_problem(graph, horizon, rng)
    horizon_program, _ = build(graph, problem)
    actions = rng.uniform(-1, 1, size=(horizon, ACTION_DIM))
    states = solve_with_fixed_actions(horizon_program, actions)
    np.testing.assert_allclose(states, rollout(graph, problem.state, actions), rtol=1e-6, atol=1e-6)


def tiny_graph(seed):
    """A graph on 2 objects with a few switching ReLUs in both networks."""
    rng = np.random.default_rng(seed)
    edge = random_network(rng, 2, POSITION_DIM + 1 + ACTION_DIM - 2, [np.full(4, RELU)], residual=False)
    node = random_network(rng, POSITION_DIM, 1 + ACTION_DIM + 2, [np.full(3, RELU)], residual=True)
    return FrozenGraph(edge, node, 2, ACTION_DIM), rng


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_linear_and_lp_state_bounds_are_sound_and_tighter(seed):
    graph, rng = tiny_graph(seed)
    problem = make_problem(graph, 4, rng)
    interval = rollout_bounds(graph, problem)
    linear = rollout_bounds(graph, problem, linear=True)
    tightened = rollout_bounds(graph, problem, linear=True, tighteners=[lp_tightener(graph, problem)])
    states = rollout(graph, problem.state, rng.uniform(-1, 1, size=(2000, 4, ACTION_DIM)))
    looser = interval
    for bounds in (linear, tightened):
        assert np.all(states >= bounds.state_low - 1e-6) and np.all(states <= bounds.state_high + 1e-6)
        width, looser_width = bounds.state_high - bounds.state_low, looser.state_high - looser.state_low
        assert np.all(width <= looser_width + 1e-9) and np.sum(width) < np.sum(looser_width)
        looser = bounds


@pytest.mark.parametrize("bounds", BOUND_MODES)
@pytest.mark.parametrize("seed", [0, 1])
def test_planner_optimum_beats_random_search_on_the_graph(seed, bounds):
    graph, rng = tiny_graph(seed)
    problem = make_problem(graph, 2, rng)
    plan = MILPPlanner(graph, graph.state_dim, ACTION_DIM, bounds=bounds, mip_gap=0.0).plan(problem)
    assert plan.status == "optimal"
    np.testing.assert_allclose(plan.states, rollout(graph, problem.state, plan.actions), atol=1e-9)
    grid = np.linspace(-1, 1, 9)
    actions = np.stack(np.meshgrid(grid, grid, grid, grid), axis=-1).reshape(-1, 2, ACTION_DIM)
    actions = np.concatenate([actions, rng.uniform(-1, 1, size=(20000, 2, ACTION_DIM))])
    costs = trajectory_cost(
        problem, torch.from_numpy(rollout(graph, problem.state, actions)), torch.from_numpy(actions)
    )
    assert plan.objective <= float(costs.min()) + 1e-6


def test_pyomo_export_of_a_graph_program_has_the_fast_path_optimum():
    graph, rng = tiny_graph(3)
    program = MILPPlanner(graph, graph.state_dim, ACTION_DIM).build(make_problem(graph, 2, rng)).program
    fast = solve_program(program, mip_rel_gap=1e-9)
    model = to_pyomo(program)
    result = appsi_highs().solve(model)
    assert result.solver.termination_condition == pyo.TerminationCondition.optimal
    assert pyo.value(model.cost) == pytest.approx(fast.objective, rel=1e-7, abs=1e-7)
    assert isinstance(model.summed, pyo.Var) and isinstance(model.x, pyo.Var)


@settings(max_examples=10, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.sampled_from([1, 3, 5]),
    st.sampled_from([2, 3, 4]),
    st.sampled_from(sorted(EDGE_SETS)),
)
def test_fixed_actions_give_the_torch_geometric_rollout(seed, horizon, num_objects, edge_set):
    """The program of the exported model reproduces GraphDynamics itself, also on another N than trained."""
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    model = GraphDynamics(num_objects=2, action_dim=ACTION_DIM, hidden=(6, 5), message_dim=3, edge_set=edge_set)
    model = model.double().eval()
    for network in (model.edge, model.node):
        network.set_kinds([rng.choice([ZERO, IDENTITY, RELU], size=width) for width in (6, 5)])
    states = torch.from_numpy(rng.normal(scale=5.0, size=(64, 6)))
    actions = torch.from_numpy(rng.uniform(-1, 1, size=(64, ACTION_DIM)))
    model.fit_normalisation(states, actions, states + 0.3 * torch.from_numpy(rng.normal(size=(64, 6))))
    graph = model.export(num_objects)
    assert graph.edge_set == edge_set
    problem = make_problem(graph, horizon, rng)
    horizon_program, _ = build(graph, problem)
    plan_actions = rng.uniform(-1, 1, size=(horizon, ACTION_DIM))
    solved = solve_with_fixed_actions(horizon_program, plan_actions)
    expected = [torch.from_numpy(problem.state)[None]]
    with torch.no_grad():
        for action in plan_actions:
            expected.append(model(expected[-1], torch.from_numpy(action)[None]))
    np.testing.assert_allclose(solved, torch.cat(expected).numpy(), rtol=1e-6, atol=1e-6)
