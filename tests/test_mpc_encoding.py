"""The MILP encoding reproduces the network exactly: bounds are sound, fixed actions give the rollout."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import sparse_networks

from dynamics.gates import NeuronKind
from dynamics.mlp import MLPDynamics
from mpc.milp.bounds.interval import propagate_intervals
from mpc.milp.bounds.rollout import rollout_bounds
from mpc.milp.formulation import AffineMap, encode_network_copies
from mpc.milp.highs import solve_program
from mpc.milp.horizon import build_horizon_program
from mpc.milp.program import ProgramBuilder
from mpc.problem import PlanningProblem, trajectory_cost


def hidden_pre_activations(network, inputs):
    """Every hidden layer's pre-activations for a batch of inputs, written out independently."""
    values, hidden = [], inputs
    for layer in network.layers[:-1]:
        pre = hidden @ layer.weight.T + layer.bias
        values.append(pre)
        hidden = np.where(layer.relu, np.maximum(pre, 0), pre)
    return values


def forward_rollout(step, state, actions):
    states = [state]
    for action in actions:
        states.append(step(states[-1], action))
    return np.stack(states)


def make_problem(state_dim, action_dim, horizon, rng, **extra):
    return PlanningProblem(
        state=rng.normal(size=state_dim),
        goal=rng.normal(size=state_dim),
        horizon=horizon,
        action_low=-np.ones(action_dim),
        action_high=np.ones(action_dim),
        state_weights=rng.uniform(0, 1, state_dim) * (rng.random(state_dim) < 0.7),
        terminal_weights=rng.uniform(0, 2, state_dim),
        action_weight=float(rng.choice([0.0, 0.3])),
        discount=float(rng.choice([1.0, 0.7])),
        time_limit=30.0,
        **extra,
    )


def build(network, problem):
    bounds = rollout_bounds(network, problem)
    return build_horizon_program(network, problem, bounds), bounds


def check_primal_point(horizon_program, bounds, network, actions, states, violation):
    """The forward pass under `actions` is a feasible point (within `violation`) costing the trajectory
    cost of `states`, and the program has one binary per ReLU the bounds leave switching."""
    program, problem = horizon_program.program, horizon_program.problem
    values = horizon_program.primal_point(actions)
    assert program.violation(values) <= violation
    expected = trajectory_cost(problem, torch.from_numpy(states[None]), torch.from_numpy(actions[None]))
    assert program.objective(values) == pytest.approx(float(expected[0]), rel=1e-9, abs=1e-9)
    assert program.num_binaries == bounds.network.binary_count(network)


def solve_with_fixed_actions(horizon_program, actions):
    program = horizon_program.program
    fixed = program.with_column_bounds(program.action_columns, actions, actions)
    return solve_program(fixed, mip_rel_gap=0.0).values[program.state_columns]


@settings(max_examples=40, deadline=None)
@given(sparse_networks())
def test_interval_bounds_contain_every_pre_activation_and_output(drawn):
    network, state_dim, action_dim, rng = drawn
    centre = rng.normal(size=(3, network.input_dim))
    radius = rng.uniform(0, 2, size=(3, network.input_dim))
    bounds = propagate_intervals(network, centre - radius, centre + radius)
    inputs = centre[:, None] + radius[:, None] * rng.uniform(-1, 1, size=(3, 200, network.input_dim))
    for layer, values in enumerate(hidden_pre_activations(network, inputs)):
        assert np.all(values >= bounds.pre_low[layer][:, None] - 1e-9)
        assert np.all(values <= bounds.pre_high[layer][:, None] + 1e-9)
    outputs = network.forward(inputs)
    assert np.all(outputs >= bounds.output_low[:, None] - 1e-9)
    assert np.all(outputs <= bounds.output_high[:, None] + 1e-9)


@settings(max_examples=40, deadline=None)
@given(sparse_networks(), st.integers(1, 4))
def test_forward_pass_is_a_feasible_point_costing_the_trajectory_cost(drawn, horizon):
    network, state_dim, action_dim, rng = drawn
    problem = make_problem(state_dim, action_dim, horizon, rng)
    horizon_program, bounds = build(network, problem)
    actions = rng.uniform(-1, 1, size=(horizon, action_dim))
    states = forward_rollout(lambda x, u: network.forward(np.concatenate([x, u])), problem.state, actions)
    check_primal_point(horizon_program, bounds, network, actions, states, violation=1e-9)


@settings(max_examples=25, deadline=None)
@given(sparse_networks(), st.integers(1, 4))
def test_fixed_actions_give_the_network_rollout(drawn, horizon):
    network, state_dim, action_dim, rng = drawn
    problem = make_problem(state_dim, action_dim, horizon, rng)
    horizon_program, _ = build(network, problem)
    actions = rng.uniform(-1, 1, size=(horizon, action_dim))
    expected = forward_rollout(lambda x, u: network.forward(np.concatenate([x, u])), problem.state, actions)
    np.testing.assert_allclose(solve_with_fixed_actions(horizon_program, actions), expected, rtol=1e-6, atol=1e-6)


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([1, 3, 6]))
def test_fixed_actions_give_the_torch_model_rollout(seed, horizon):
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    state_dim, action_dim = 3, 2
    model = MLPDynamics(state_dim, action_dim, hidden=(8, 6)).double().eval()
    model.set_kinds([rng.choice(list(NeuronKind), size=width) for width in (8, 6)])
    width = state_dim + action_dim
    samples = torch.from_numpy(rng.normal(size=(64, width)) * rng.uniform(0.5, 3, width))
    model.fit_normalisation(samples[:, :state_dim], samples[:, state_dim:], samples[:, :state_dim] * 1.1 + 0.2)
    network = model.export()
    problem = make_problem(state_dim, action_dim, horizon, rng)
    horizon_program, _ = build(network, problem)
    actions = rng.uniform(-1, 1, size=(horizon, action_dim))
    with torch.no_grad():
        expected = forward_rollout(
            lambda x, u: model(torch.from_numpy(x), torch.from_numpy(u)).numpy(), problem.state, actions
        )
    np.testing.assert_allclose(solve_with_fixed_actions(horizon_program, actions), expected, rtol=1e-6, atol=1e-6)


@settings(max_examples=25, deadline=None)
@given(sparse_networks())
def test_only_switching_relus_get_columns_and_each_one_binary(drawn):
    network, state_dim, action_dim, rng = drawn
    problem = make_problem(state_dim, action_dim, 3, rng)
    horizon_program, bounds = build(network, problem)
    program = horizon_program.program
    for layer, columns, low, high in zip(
        network.layers, horizon_program.dynamics.hidden, bounds.network.pre_low, bounds.network.pre_high
    ):
        switching = layer.relu & (low < 0) & (high > 0)
        for block in (columns.pre, columns.post, columns.binary):
            assert np.all((block >= 0) == switching)
        assert np.all(program.integrality[columns.binary[switching]])
    # Columns: states, actions, three per switching ReLU, one per costed state entry and action.
    costed = np.count_nonzero(np.vstack([np.tile(problem.state_weights, (2, 1)), problem.terminal_weights]))
    action_sizes = 3 * action_dim if problem.action_weight > 0 else 0
    expected = 4 * state_dim + 3 * action_dim + 3 * program.num_binaries + costed + action_sizes
    assert program.num_columns == expected


@settings(max_examples=25, deadline=None)
@given(sparse_networks(), st.integers(1, 5))
def test_copies_on_affine_inputs_with_fresh_outputs(drawn, copies):
    """The graph-model use: inputs are differences of existing columns, outputs are new columns."""
    network, _, _, rng = drawn
    width = network.input_dim
    builder = ProgramBuilder()
    values = rng.uniform(-1, 1, size=(copies + 1, width))
    nodes = builder.add_columns("nodes", np.ones((copies + 1, width), dtype=bool), values, values)
    offset = rng.normal(size=(copies, width))
    # Input of copy k: nodes[k + 1] - nodes[k] + offset[k].
    differences = AffineMap.of_columns(nodes[1:]) - AffineMap.of_columns(nodes[:-1])
    differences = dataclasses.replace(differences, offset=offset)
    inputs = values[1:] - values[:-1] + offset
    bounds = propagate_intervals(network, inputs - 0.1, inputs + 0.1)
    encoding = encode_network_copies(builder, network, differences, bounds, name="edge")
    result = solve_program(builder.build(), mip_rel_gap=0.0)
    np.testing.assert_allclose(result.values[encoding.outputs], network.forward(inputs), rtol=1e-6, atol=1e-6)


def test_builder_keeps_scalar_and_array_bounds_in_block_order_and_adds_repeated_entries():
    builder = ProgramBuilder()
    first = builder.add_columns("first", np.array([True, False, True]), np.array([-1.0, -2.0, -3.0]), 5.0)
    second = builder.add_columns("second", np.ones((2, 1), dtype=bool), 0.0, np.array([[1.0], [2.0]]), integer=True)
    builder.add_rows(
        2, np.array([0, 0, 1, 0]), np.array([0, 2, 1, 0]), np.array([1.0, 2.0, 3.0, 4.0]), -np.inf, [7.0, 8.0]
    )
    builder.add_sum_rows([(second.ravel(), 1.0), (np.array([0, 1]), np.array([-1.0, 1.0]))], 0.0, np.inf)
    builder.add_cost(np.array([1, 3, 1]), np.array([0.5, 1.0, 0.25]))
    program = builder.build()
    np.testing.assert_array_equal(first, [0, -1, 1])
    np.testing.assert_array_equal(program.col_lower, [-1.0, -3.0, 0.0, 0.0])
    np.testing.assert_array_equal(program.col_upper, [5.0, 5.0, 1.0, 2.0])
    np.testing.assert_array_equal(program.integrality, [False, False, True, True])
    np.testing.assert_array_equal(program.row_lower, [-np.inf, -np.inf, 0.0, 0.0])
    np.testing.assert_array_equal(program.row_upper, [7.0, 8.0, np.inf, np.inf])
    expected = [[5.0, 0.0, 2.0, 0.0], [0.0, 3.0, 0.0, 0.0], [-1.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 1.0]]
    np.testing.assert_array_equal(program.matrix.toarray(), expected)
    np.testing.assert_array_equal(program.cost, [0.0, 0.75, 0.0, 1.0])


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 4), st.integers(1, 5), st.integers(1, 4))
def test_then_affine_is_the_weight_times_each_copys_expressions(seed, copies, dim, out):
    """Dense check with repeated columns within an expression and columns shared between copies."""
    rng = np.random.default_rng(seed)
    entries = int(rng.integers(0, 3 * copies * dim))
    affine = AffineMap(
        rng.integers(0, copies * dim, entries), rng.integers(0, 6, entries), rng.normal(size=entries),
        rng.normal(size=(copies, dim)),
    )  # fmt: skip
    weight, bias = rng.normal(size=(out, dim)), rng.normal(size=out)

    def dense(expressions: AffineMap) -> np.ndarray:
        matrix = np.zeros((expressions.copies * expressions.dim, 6))
        np.add.at(matrix, (expressions.rows, expressions.columns), expressions.values)
        return matrix.reshape(expressions.copies, expressions.dim, 6)

    result = affine.then_affine(weight, bias)
    np.testing.assert_allclose(dense(result), weight @ dense(affine), atol=1e-12)
    np.testing.assert_allclose(result.offset, affine.offset @ weight.T + bias, atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(sparse_networks())
def test_strategy_deletes_zero_neurons_and_fits_the_dimensions(drawn):
    network, state_dim, action_dim, _ = drawn
    assert network.input_dim == state_dim + action_dim
    assert network.output_dim == state_dim
    assert network.forward(np.zeros((4, network.input_dim))).shape == (4, state_dim)
