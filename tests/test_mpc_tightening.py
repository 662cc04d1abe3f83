"""LP-tightened bounds are sound (every feasible rollout stays inside), tighter, and keep the optimum."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_mpc_encoding import forward_rollout, hidden_pre_activations, make_problem
from test_mpc_strategies import sparse_networks

from mpc.bounds import rollout_interval_bounds
from mpc.milp_planner import MILPPlanner
from mpc.tightening import tighten_rollout_bounds


@settings(max_examples=25, deadline=None)
@given(sparse_networks(max_width=5), st.integers(1, 3), st.booleans())
def test_lp_bounds_are_inside_interval_bounds_and_contain_every_feasible_rollout(drawn, horizon, constrained):
    network, state_dim, action_dim, rng = drawn
    actions = rng.uniform(-1, 1, size=(400, horizon, action_dim))
    state = rng.normal(size=state_dim)
    rollouts = np.stack(
        [forward_rollout(lambda x, u: network.forward(np.concatenate([x, u])), state, sequence) for sequence in actions]
    )
    extra = {}
    if constrained:  # a half-plane that some sampled rollouts leave
        extra["state_constraints"] = (np.eye(state_dim)[:1], np.array([np.median(rollouts[:, 1:, 0].max(axis=1))]))
    problem = make_problem(state_dim, action_dim, horizon, rng, **extra)
    problem.state = state
    interval = rollout_interval_bounds(network, state, problem.action_low, problem.action_high, horizon)
    tightened = tighten_rollout_bounds(network, problem, interval)

    assert np.all(tightened.state_low >= interval.state_low) and np.all(tightened.state_high <= interval.state_high)
    for low, high, loose_low, loose_high in zip(
        tightened.network.pre_low, tightened.network.pre_high, interval.network.pre_low, interval.network.pre_high
    ):
        assert np.all(low >= loose_low) and np.all(high <= loose_high)
    assert tightened.network.binary_count(network) <= interval.network.binary_count(network)

    feasible = np.ones(len(actions), dtype=bool)
    if constrained:
        feasible = np.all(rollouts[:, 1:, 0] <= extra["state_constraints"][1][0], axis=1)
    states, inputs = rollouts[feasible], np.concatenate([rollouts[feasible, :-1], actions[feasible]], axis=2)
    assert np.all(states >= tightened.state_low - 1e-9) and np.all(states <= tightened.state_high + 1e-9)
    for layer, values in enumerate(hidden_pre_activations(network, inputs)):
        assert np.all(values >= tightened.network.pre_low[layer] - 1e-9)
        assert np.all(values <= tightened.network.pre_high[layer] + 1e-9)


@settings(max_examples=10, deadline=None)
@given(sparse_networks(max_width=6), st.integers(1, 3))
def test_both_bound_modes_reach_the_same_optimum(drawn, horizon):
    network, state_dim, action_dim, rng = drawn
    problem = make_problem(state_dim, action_dim, horizon, rng)
    plans = [
        MILPPlanner(network, state_dim, action_dim, bounds=mode, mip_gap=1e-9).plan(problem)
        for mode in ("interval", "lp")
    ]
    assert plans[1].binaries <= plans[0].binaries
    assert plans[1].objective == pytest.approx(plans[0].objective, rel=1e-6, abs=1e-6)
