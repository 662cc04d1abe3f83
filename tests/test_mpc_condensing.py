"""The condensed region LP (mpc.milp.condensing) is the region's LP in full: same optimum, a point of the program."""

from __future__ import annotations

import dataclasses

import highspy
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import sparse_networks
from test_mpc_anytime import drawn_problem
from test_mpc_graph import make_problem, sparse_graphs
from test_mpc_obstacles import INTEGRATOR, SQUARE, blocked_problem

from mpc.milp.highs import new_highs, pass_program
from mpc.milp.planner import MILPPlanner
from mpc.milp.region import RegionSearch
from mpc.problem import Obstacle


def full_region_lp(program, binaries: np.ndarray, pattern: np.ndarray) -> float | None:
    """The optimum of the region's LP in full (every binary's bounds fixed to the pattern); None if infeasible."""
    lower, upper = program.col_lower.copy(), program.col_upper.copy()
    lower[binaries] = upper[binaries] = pattern
    highs = new_highs()
    pass_program(highs, dataclasses.replace(program, col_lower=lower, col_upper=upper), relax=True)
    highs.run()
    if highs.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return None
    return highs.getInfo().objective_function_value


def check_regions(horizon_program, patterns) -> int:
    """Condensed against full region LP on every pattern; returns how many regions held a plan."""
    program, search = horizon_program.program, RegionSearch(horizon_program)
    held = 0
    for pattern in patterns:
        condensed, full = search.solve(pattern), full_region_lp(program, search.binaries, pattern)
        assert (condensed is None) == (full is None)
        if condensed is None:
            continue
        held += 1
        assert condensed.objective == pytest.approx(full, rel=1e-6, abs=1e-6)
        assert program.violation(condensed.values) <= 1e-6  # a point of the program, in the pattern's region
        np.testing.assert_array_equal(condensed.values[search.binaries], pattern)
        assert condensed.objective == pytest.approx(program.objective(condensed.values), rel=1e-12)
    return held


def drawn_patterns(search: RegionSearch, rng: np.random.Generator, horizon: int, action_dim: int) -> list:
    """Patterns of random plans (regions that hold a plan), and the same with random ReLUs flipped (some empty)."""
    patterns = [search.pattern(rng.uniform(-1, 1, size=(horizon, action_dim))) for _ in range(3)]
    flips = [pattern ^ (rng.random(pattern.size) < 0.3) for pattern in patterns]
    return patterns + flips


@settings(max_examples=30, deadline=None)
@given(sparse_networks(), st.integers(1, 3))
def test_condensed_region_lp_of_an_mlp_is_its_lp_in_full(drawn, horizon):
    network, state_dim, action_dim, rng = drawn
    horizon_program = MILPPlanner(network, state_dim, action_dim, bounds="interval").build(
        drawn_problem(state_dim, action_dim, rng, horizon)
    )
    assert check_regions(horizon_program, drawn_patterns(RegionSearch(horizon_program), rng, horizon, action_dim)) >= 3


@settings(max_examples=20, deadline=None)
@given(sparse_graphs(), st.integers(1, 3))
def test_condensed_region_lp_of_a_graph_model_is_its_lp_in_full(drawn, horizon):
    graph, rng = drawn
    problem = make_problem(graph, horizon, rng)
    horizon_program = MILPPlanner(graph, graph.state_dim, graph.action_dim, bounds="interval").build(problem)
    search = RegionSearch(horizon_program)
    assert check_regions(horizon_program, drawn_patterns(search, rng, horizon, graph.action_dim)) >= 3


def test_condensed_region_lp_with_obstacles_is_its_lp_in_full():
    problem = blocked_problem([Obstacle.of_entries(SQUARE, [[0, 1]], 2, margin=0.2)])
    horizon_program = MILPPlanner(INTEGRATOR, 2, 2, bounds="interval").build(problem)
    search = RegionSearch(horizon_program)
    rng = np.random.default_rng(0)
    patterns = [search.pattern(start) for start in rng.uniform(-1.5, 1.5, (12, problem.horizon, 2))]
    # A point choosing no face, or two, breaks its choice row: the pattern alone empties the region.
    broken = patterns[0].copy()
    broken[np.flatnonzero(broken)[0]] = False
    assert search.solve(broken) is None and full_region_lp(horizon_program.program, search.binaries, broken) is None
    assert check_regions(horizon_program, patterns) >= 6
