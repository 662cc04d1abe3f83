"""Linear and LP-tightened bounds are sound (every feasible rollout stays inside), tighter, and keep the optimum."""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import sparse_networks
from test_mpc_encoding import forward_rollout, hidden_pre_activations, make_problem

from mpc.milp.bounds.crown import linear_tightener
from mpc.milp.bounds.lp import lp_tightener
from mpc.milp.bounds.rollout import rollout_bounds
from mpc.milp.planner import LP_MIN_BINARIES, MILPPlanner

TIGHTENERS = {
    "linear": lambda network, problem: [linear_tightener(network, problem)],
    "lp": lambda network, problem: [lp_tightener(network, problem)],
    "lp states": lambda network, problem: [lp_tightener(network, problem, neurons=False)],
    "linear then lp": lambda network, problem: [linear_tightener(network, problem), lp_tightener(network, problem)],
}


@pytest.mark.parametrize("mode", TIGHTENERS)
@settings(max_examples=25, deadline=None)
@given(
    drawn=sparse_networks(max_width=5), horizon=st.integers(1, 3), constrained=st.booleans(), workspace=st.booleans()
)
def test_tightened_bounds_are_inside_interval_bounds_and_contain_every_feasible_rollout(
    mode, drawn, horizon, constrained, workspace
):
    network, state_dim, action_dim, rng = drawn
    actions = rng.uniform(-1, 1, size=(400, horizon, action_dim))
    state = rng.normal(size=state_dim)
    rollouts = np.stack(
        [forward_rollout(lambda x, u: network.forward(np.concatenate([x, u])), state, sequence) for sequence in actions]
    )
    feasible = np.ones(len(actions), dtype=bool)
    extra = {}
    if constrained:  # a half-plane that some sampled rollouts leave
        limit = np.median(rollouts[:, 1:, 0].max(axis=1))
        extra["state_constraints"] = (np.eye(state_dim)[:1], np.array([limit]))
        feasible &= np.all(rollouts[:, 1:, 0] <= limit, axis=1)
    if workspace:  # a box on the last state entry that some sampled rollouts leave
        low = np.full(state_dim, -np.inf)
        low[-1] = np.quantile(rollouts[feasible, 1:, -1].min(axis=1), 0.3)
        extra |= {"workspace_low": low, "workspace_high": np.full(state_dim, np.inf)}
        feasible &= np.all(rollouts[:, 1:, -1] >= low[-1], axis=1)
    problem = make_problem(state_dim, action_dim, horizon, rng, **extra)
    problem.state = state
    interval = rollout_bounds(network, problem)
    tightened = rollout_bounds(network, problem, tighteners=TIGHTENERS[mode](network, problem))

    assert np.all(tightened.state_low >= interval.state_low) and np.all(tightened.state_high <= interval.state_high)
    for low, high, loose_low, loose_high in zip(
        tightened.network.pre_low, tightened.network.pre_high, interval.network.pre_low, interval.network.pre_high
    ):
        assert np.all(low >= loose_low) and np.all(high <= loose_high)
    assert tightened.network.binary_count(network) <= interval.network.binary_count(network)

    states, inputs = rollouts[feasible], np.concatenate([rollouts[feasible, :-1], actions[feasible]], axis=2)
    assert np.all(states >= tightened.state_low - 1e-9) and np.all(states <= tightened.state_high + 1e-9)
    for layer, values in enumerate(hidden_pre_activations(network, inputs)):
        assert np.all(values >= tightened.network.pre_low[layer] - 1e-9)
        assert np.all(values <= tightened.network.pre_high[layer] + 1e-9)


@settings(max_examples=10, deadline=None)
@given(sparse_networks(max_width=6), st.integers(1, 3))
def test_every_bound_mode_reaches_the_same_optimum(drawn, horizon):
    network, state_dim, action_dim, rng = drawn
    problem = make_problem(state_dim, action_dim, horizon, rng)
    plans = [
        MILPPlanner(network, state_dim, action_dim, bounds=mode, mip_gap=1e-9).plan(problem)
        for mode in ("interval", "linear", "lp")
    ]
    for tighter in plans[1:]:
        assert tighter.binaries <= plans[0].binaries
        assert tighter.objective == pytest.approx(plans[0].objective, rel=1e-6, abs=1e-6)


@settings(max_examples=10, deadline=None)
@given(sparse_networks(max_width=5), st.integers(1, 3))
def test_lp_tightening_past_its_deadline_changes_nothing(drawn, horizon):
    network, state_dim, action_dim, rng = drawn
    problem = make_problem(state_dim, action_dim, horizon, rng)
    linear = rollout_bounds(network, problem, tighteners=[linear_tightener(network, problem)])
    expired = lp_tightener(network, problem, deadline=time.perf_counter())
    both = rollout_bounds(network, problem, tighteners=[linear_tightener(network, problem), expired])
    np.testing.assert_array_equal(both.state_low, linear.state_low)
    np.testing.assert_array_equal(both.state_high, linear.state_high)
    tightened, reference = both.network, linear.network
    for mine, theirs in zip(tightened.pre_low + tightened.pre_high, reference.pre_low + reference.pre_high):
        np.testing.assert_array_equal(mine, theirs)


@settings(max_examples=20, deadline=None)
@given(sparse_networks(max_width=8), st.integers(1, 6))
def test_lp_mode_skips_the_lps_when_interval_bounds_leave_few_binaries(drawn, horizon):
    network, state_dim, action_dim, rng = drawn
    problem = make_problem(state_dim, action_dim, horizon, rng)
    bounds = {
        mode: MILPPlanner(network, state_dim, action_dim, bounds=mode).rollout_bounds(problem)
        for mode in ("interval", "linear", "lp")
    }
    if bounds["interval"].network.binary_count(network) < LP_MIN_BINARIES:
        assert np.array_equal(bounds["linear"].state_low, bounds["lp"].state_low)
        for linear, lp in zip(bounds["linear"].network.pre_low, bounds["lp"].network.pre_low):
            assert np.array_equal(linear, lp)
