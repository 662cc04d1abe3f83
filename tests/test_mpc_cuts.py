"""Ideal single-neuron cuts (mpc.milp.cuts) hold at every plan of the program, never change its optimum,
only raise the LP relaxation's bound, and reach the planners; HiGHS options reach HiGHS."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import sparse_networks
from test_mpc_anytime import drawn_problem
from test_mpc_planner import tiny_model, tiny_problem

from mpc.errors import ProblemError
from mpc.main import main
from mpc.milp.cuts import SwitchingNeurons, separate, tighten_with_cuts
from mpc.milp.highs import new_highs, pass_program, solve_program
from mpc.milp.planner import MILPPlanner
from mpc.planners import frozen_dynamics, make_planner


def relaxation_bound(program) -> float:
    highs = new_highs()
    pass_program(highs, program, relax=True)
    highs.run()
    return highs.getInfo().objective_function_value


@pytest.mark.slow
@settings(max_examples=30, deadline=None)
@given(sparse_networks(max_width=8), st.integers(1, 3), st.sampled_from(["interval", "linear"]))
def test_cuts_hold_at_every_plan_and_keep_the_optimum(drawn, horizon, bounds):
    network, state_dim, action_dim, rng = drawn
    problem = drawn_problem(state_dim, action_dim, rng, horizon)
    horizon_program = MILPPlanner(network, state_dim, action_dim, bounds=bounds).build(problem)
    base = horizon_program.program
    cut, record = tighten_with_cuts(base, horizon_program.dynamics, rounds=3)
    assert cut.num_rows == base.num_rows + record.cuts and record.rounds <= 3
    # Every action sequence's program point (no workspace box: it is feasible) satisfies every cut.
    for _ in range(20):
        point = horizon_program.primal_point(rng.uniform(-1, 1, size=(horizon, action_dim)))
        assert base.violation(point) <= 1e-6
        assert cut.violation(point) <= 1e-6
    # Same optimum; the relaxation only gets tighter, and stays below the optimum.
    optimum = solve_program(base, mip_rel_gap=0.0).objective
    assert solve_program(cut, mip_rel_gap=0.0).objective == pytest.approx(optimum, rel=1e-6, abs=1e-6)
    if record.relaxation_after is not None:
        assert record.relaxation_before - 1e-6 <= record.relaxation_after <= optimum + 1e-6 * (1 + abs(optimum))


def test_a_cut_removes_the_fractional_relaxation_optimum_and_raises_the_bound():
    model = tiny_model(3, hidden=(8, 8))
    problem = tiny_problem(3, horizon=3)
    horizon_program = MILPPlanner(frozen_dynamics(model), 2, 1, bounds="interval").build(problem)
    program = horizon_program.program
    neurons = SwitchingNeurons.of(horizon_program.dynamics)
    assert neurons.count == program.num_binaries  # one per switching ReLU
    highs = new_highs()
    pass_program(highs, program, relax=True)
    highs.run()
    point = np.asarray(highs.getSolution().col_value)
    matrix, lower, upper = separate(neurons, program, point)
    assert upper.size > 0
    assert np.all(matrix @ point > upper + 1e-7)  # each row cuts off the relaxation's optimum
    tightened = program.with_rows(matrix, lower, upper)
    assert relaxation_bound(tightened) > relaxation_bound(program) + 1e-6


@pytest.mark.slow
def test_planners_take_cut_rounds_and_record_them():
    model = tiny_model(3, hidden=(8, 8))
    problem = dataclasses.replace(tiny_problem(3, horizon=3), time_limit=30.0)
    plain = make_planner("milp-exact", model, bounds="interval").plan(problem)
    with_cuts = make_planner("milp-exact", model, bounds="interval", cut_rounds=2).plan(problem)
    assert with_cuts.extras["cut_rounds"] >= 1 and with_cuts.extras["cuts"] > 0
    assert with_cuts.extras["relaxation_after"] > with_cuts.extras["relaxation_before"]
    assert with_cuts.objective == pytest.approx(plain.objective, rel=1e-5, abs=1e-6)
    assert with_cuts.best_bound <= with_cuts.objective + 1e-6
    anytime = make_planner("milp", model.float(), cut_rounds=1).plan(dataclasses.replace(problem, time_limit=2.0))
    assert anytime.best_bound <= anytime.objective + 1e-6
    with pytest.raises(ProblemError, match="cut_rounds"):
        make_planner("milp-exact", model, cut_rounds=-1)


def test_highs_options_reach_highs_and_unknown_ones_are_refused():
    assert new_highs(options={"mip_heuristic_effort": 0.3}).getOptionValue("mip_heuristic_effort")[1] == 0.3
    with pytest.raises(ProblemError, match="no_such_option"):
        new_highs(options={"no_such_option": 1})
    model = tiny_model(4)
    problem = tiny_problem(4, horizon=2)
    plan = make_planner("milp-exact", model, highs_options={"mip_heuristic_effort": 0.5}).plan(problem)
    assert plan.status == "optimal"
    with pytest.raises(ProblemError, match="mip_heuristic_effort"):
        make_planner("milp-exact", model, highs_options={"mip_heuristic_effort": "lots"})


CHECKPOINTS = Path(__file__).resolve().parents[1] / "examples" / "checkpoints"


@pytest.mark.slow
def test_control_takes_cut_rounds_and_highs_options(capsys, tmp_path):
    out = tmp_path / "r.json"
    settings = ["--horizon", "2", "--steps", "1", "--episodes", "1", "--time-limit", "1.0", "--out", str(out)]
    options = ["--cut-rounds", "1", "--highs-option", "mip_heuristic_effort=0.3", "--highs-option", "mip_max_nodes=5"]
    model = str(CHECKPOINTS / "pushing_sparse.pt")
    assert main(["control", model, "--planner", "milp-exact", *options, *settings]) == 0
    config = json.loads(out.read_text())["config"]
    assert config["cut_rounds"] == 1
    assert config["highs_options"] == {"mip_heuristic_effort": 0.3, "mip_max_nodes": 5}
    capsys.readouterr()
    code = main(["control", str(CHECKPOINTS / "pushing_sparse.pt"), "--highs-option", "no_such=1", *settings])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "no_such" in err
    assert main(["control", model, "--highs-option", "mip_heuristic_effort", *settings]) == 2
    assert "expected NAME=VALUE" in capsys.readouterr().err
