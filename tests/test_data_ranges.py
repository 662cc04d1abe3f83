"""Data-derived pre-activation ranges: recorded on the frozen export, saved with the checkpoint, rescaled with
the network, used (optionally, not soundly) by the MILP's bounds, and reported in the plan's extras."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from test_mistakes import badly_scaled_model
from test_mpc_encoding import hidden_pre_activations
from toy import toy_transitions

from dynamics.checkpoint import load_checkpoint, save_checkpoint
from dynamics.frozen import FrozenNetwork, rollout
from dynamics.gates import NeuronKind
from dynamics.graph import GraphDynamics
from dynamics.mlp import MLPDynamics
from dynamics.ranges import record_ranges
from mpc.errors import InfeasibleError, ProblemError
from mpc.main import main
from mpc.milp.bounds.data_ranges import DATA_RANGE_MARGIN, widened_ranges
from mpc.milp.numerics import balanced
from mpc.milp.planner import MILPPlanner
from mpc.planners import make_planner
from mpc.problem import PlanningProblem

CHECKPOINTS = Path(__file__).resolve().parent.parent / "examples" / "checkpoints"


def tiny_model(seed: int, hidden=(6, 5), dtype=torch.float64) -> MLPDynamics:
    """A random 2-state, 1-action model with ReLU, identity and zero neurons."""
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    model = MLPDynamics(2, 1, hidden=hidden).to(dtype).eval()
    model.set_kinds([rng.choice(list(NeuronKind), size=width, p=[0.1, 0.2, 0.7]) for width in hidden])
    with torch.no_grad():
        for linear in model.net.linears:
            linear.weight.mul_(3.0)
    return model


def tiny_data(seed: int, count: int = 200, centre: float = 0.0, spread: float = 1.0):
    rng = np.random.default_rng(seed)
    return rng.normal(centre, spread, size=(count, 2)), rng.uniform(-1, 1, size=(count, 1))


def tiny_problem(state, horizon: int = 4, time_limit: float = 20.0) -> PlanningProblem:
    return PlanningProblem(
        state=np.asarray(state, dtype=np.float64),
        goal=np.array([0.5, -0.5]),
        horizon=horizon,
        action_low=-np.ones(1),
        action_high=np.ones(1),
        state_weights=np.full(2, 0.5),
        terminal_weights=np.full(2, 2.0),
        action_weight=0.1,
        workspace_low=np.full(2, -10.0),
        workspace_high=np.full(2, 10.0),
        time_limit=time_limit,
    )


def count_outside_by_hand(network: FrozenNetwork, states: np.ndarray, actions: np.ndarray) -> int:
    inputs = np.concatenate([states[:-1], actions], axis=1)
    count = 0
    for pre, (low, high) in zip(hidden_pre_activations(network, inputs), network.data_ranges):
        margin = DATA_RANGE_MARGIN * (high - low)
        count += int(
            np.sum(
                (pre < low - margin - 1e-6 * (1 + np.abs(low - margin)))
                | (pre > high + margin + 1e-6 * (1 + np.abs(high + margin)))
            )
        )
    return count


def test_ranges_are_the_extremes_of_the_frozen_pre_activations_on_the_data():
    model = tiny_model(0)
    states, actions = tiny_data(1)
    ranges = record_ranges(model, states, actions)
    model.data_ranges = ranges
    frozen = model.export()
    assert frozen.data_ranges is not None and len(frozen.data_ranges) == len(frozen.layers) - 1
    expected = hidden_pre_activations(frozen, np.concatenate([states, actions], axis=1))
    for (low, high), pre in zip(frozen.data_ranges, expected):
        np.testing.assert_array_equal(low, pre.min(axis=0))
        np.testing.assert_array_equal(high, pre.max(axis=0))
    assert ranges.transitions == 200 and ranges.neurons == sum(layer.out_dim for layer in frozen.layers[:-1])


def test_graph_ranges_cover_every_edge_and_node_and_carry_over_to_other_object_counts():
    rng = np.random.default_rng(2)
    torch.manual_seed(2)
    model = GraphDynamics(num_objects=2, action_dim=2, hidden=(6, 5), message_dim=3).double().eval()
    for network in (model.edge, model.node):
        network.set_kinds([rng.choice(list(NeuronKind), size=width, p=[0.1, 0.2, 0.7]) for width in (6, 5)])
    states, actions = rng.normal(scale=3.0, size=(50, 8)), rng.uniform(-1, 1, size=(50, 2))  # 3 objects
    model.data_ranges = record_ranges(model, states, actions)
    graph = model.export(3)
    positions, controls = graph.split(np.concatenate([states, actions], axis=1))
    edge_inputs = graph.edge_inputs(positions, controls)
    edge_pre = hidden_pre_activations(graph.edge, edge_inputs.reshape(-1, edge_inputs.shape[-1]))
    for (low, high), pre in zip(graph.edge.data_ranges, edge_pre):
        np.testing.assert_array_equal(low, pre.min(axis=0))
        np.testing.assert_array_equal(high, pre.max(axis=0))
    node_inputs = graph.node_inputs(positions, controls, graph.sum_messages(graph.edge.forward(edge_inputs)))
    node_pre = hidden_pre_activations(graph.node, node_inputs.reshape(-1, node_inputs.shape[-1]))
    for (low, high), pre in zip(graph.node.data_ranges, node_pre):
        np.testing.assert_array_equal(low, pre.min(axis=0))
        np.testing.assert_array_equal(high, pre.max(axis=0))
    other = model.export(5)  # the same learned functions, the same ranges
    for (low, high), (other_low, other_high) in zip(graph.edge.data_ranges, other.edge.data_ranges):
        np.testing.assert_array_equal(low, other_low)
        np.testing.assert_array_equal(high, other_high)


def test_ranges_survive_save_and_load_and_are_dropped_when_the_weights_change(tmp_path):
    model = tiny_model(3, dtype=torch.float32)  # as a checkpoint loads it
    model.data_ranges = record_ranges(model, *tiny_data(4))
    path = tmp_path / "model.pt"
    save_checkpoint(path, model, {"env_id": "toy"}, {})
    loaded = load_checkpoint(path).model
    for (low, high), (saved_low, saved_high) in zip(model.export().data_ranges, loaded.export().data_ranges):
        np.testing.assert_array_equal(low, saved_low)
        np.testing.assert_array_equal(high, saved_high)
    with torch.no_grad():
        loaded.net.linears[0].bias.add_(0.5)  # other weights: the ranges no longer describe them
    assert loaded.data_ranges is not None and loaded.export().data_ranges is None
    with pytest.raises(ProblemError, match="record-ranges"):
        MILPPlanner(loaded.export(), 2, 1, data_ranges=True)
    model.data_ranges = None  # a checkpoint without ranges (as before ranges existed) loads without them
    save_checkpoint(path, model, {"env_id": "toy"}, {})
    assert load_checkpoint(path).model.data_ranges is None


def test_balancing_rescales_the_ranges_with_their_neurons():
    model = badly_scaled_model()
    states, actions = tiny_data(5)
    model.data_ranges = record_ranges(model, states, actions)
    network = model.export()
    rescaled = balanced(network)
    assert rescaled is not network and rescaled.data_ranges is not None
    inputs = np.concatenate([states, actions], axis=1)
    for (low, high), pre, (old_low, _) in zip(
        rescaled.data_ranges, hidden_pre_activations(rescaled, inputs), network.data_ranges
    ):
        np.testing.assert_array_equal(low, pre.min(axis=0))  # powers of two: exact
        np.testing.assert_array_equal(high, pre.max(axis=0))
        assert np.abs(low).max() < 1e-3 * np.abs(old_low).max()  # really rescaled
    planner = MILPPlanner(network, 2, 1, data_ranges=True)
    assert planner.network.data_ranges is not None
    np.testing.assert_array_equal(planner.network.data_ranges[0][1], rescaled.data_ranges[0][1])
    plan = planner.plan(tiny_problem(states[0], horizon=2))
    assert plan.extras["outside_data_ranges"] == count_outside_by_hand(rescaled, plan.states, plan.actions)


@pytest.mark.parametrize("bounds", ["interval", "linear", "lp"])
@pytest.mark.parametrize("seed", [0, 1])
def test_data_ranges_never_add_binaries_or_widen_a_bound(bounds, seed):
    model = tiny_model(seed)
    states, actions = tiny_data(seed + 10, spread=0.5)
    model.data_ranges = record_ranges(model, states, actions)
    network = model.export()
    problem = tiny_problem(states[0], horizon=4)
    sound = MILPPlanner(network, 2, 1, bounds=bounds).rollout_bounds(problem).network
    cut = MILPPlanner(network, 2, 1, bounds=bounds, data_ranges=True).rollout_bounds(problem).network
    assert cut.binary_count(network) <= sound.binary_count(network)
    narrower = False
    # Every big-M value (the bounds of a ReLU that can switch) is at most the sound one; with interval and linear
    # bounds every neuron's bounds are (lp tightens only the neurons still switching).
    for low, high, cut_low, cut_high, switching in zip(
        sound.pre_low, sound.pre_high, cut.pre_low, cut.pre_high, cut.unstable(network)
    ):
        checked = switching if bounds == "lp" else np.ones_like(switching)
        assert np.all((cut_low >= low - 1e-9)[checked]) and np.all((cut_high <= high + 1e-9)[checked])
        narrower |= bool(np.any(cut_high - cut_low < high - low - 1e-6))
    assert narrower
    # Where sound bounds and data range meet, the cut bounds lie within the widened range.
    for (range_low, range_high), low, high, cut_low, cut_high in zip(
        widened_ranges(network), sound.pre_low, sound.pre_high, cut.pre_low, cut.pre_high
    ):
        meet = (low <= range_high) & (high >= range_low)
        assert np.all((cut_low >= range_low - 1e-9)[meet]) and np.all((cut_high <= range_high + 1e-9)[meet])


def test_a_plan_from_outside_the_data_reports_its_neurons_outside_the_ranges():
    """Ranges recorded on a few transitions near one state; the plan starts far from them, so it must leave them
    (where a neuron's sound bounds miss its range entirely, the sound bounds are kept)."""
    model = tiny_model(6)
    states, actions = tiny_data(7, count=5, centre=3.0, spread=0.1)
    model.data_ranges = record_ranges(model, states, actions)
    network = model.export()
    plan = MILPPlanner(network, 2, 1, bounds="linear", data_ranges=True).plan(tiny_problem([-2.0, -1.0]))
    assert plan.extras["data_ranges"] is True and plan.status == "optimal"
    assert plan.extras["outside_data_ranges"] == count_outside_by_hand(network, plan.states, plan.actions) > 0
    np.testing.assert_allclose(plan.states, rollout(network, plan.states[0], plan.actions))  # the model's rollout
    # Ranges recorded on the plan's own inputs hold it: nothing outside.
    model.data_ranges = record_ranges(model, plan.states[:-1], plan.actions)
    planner = MILPPlanner(model.export(), 2, 1, data_ranges=True)
    assert planner.data_range_extras(plan.states, plan.actions) == {"data_ranges": True, "outside_data_ranges": 0}
    assert MILPPlanner(network, 2, 1).plan(tiny_problem([-2.0, -1.0], time_limit=2.0)).extras["data_ranges"] is False


def test_ranges_no_plan_can_keep_to_are_infeasible_and_the_anytime_planner_samples_instead():
    model = tiny_model(0)
    model.data_ranges = record_ranges(model, *tiny_data(1, count=5, centre=3.0, spread=0.1))
    problem = tiny_problem([-2.0, -1.0], time_limit=0.5)
    with pytest.raises(InfeasibleError, match="data range"):
        MILPPlanner(model.export(), 2, 1, bounds="linear", data_ranges=True).plan(problem)
    plan = make_planner("milp", model, data_ranges=True).plan(problem)
    assert plan.status == "sampled (MILP: InfeasibleError)"
    assert plan.extras["outside_data_ranges"] == count_outside_by_hand(model.export(), plan.states, plan.actions) > 0


def test_anytime_and_warm_started_planners_report_the_ranges():
    model = tiny_model(9, dtype=torch.float32)  # as the sampling planners take it
    states, actions = tiny_data(10, spread=0.5)
    model.data_ranges = record_ranges(model, states, actions)
    problem = tiny_problem(states[0], horizon=3, time_limit=0.5)
    for name in ("milp", "milp-cem"):
        plan = make_planner(name, model, seed=0, data_ranges=True).plan(problem)
        assert plan.extras["data_ranges"] is True
        assert plan.extras["outside_data_ranges"] == count_outside_by_hand(model.export(), plan.states, plan.actions)


def test_data_ranges_without_recorded_ranges_is_a_problem_error():
    model = tiny_model(11)
    for name in ("milp", "milp-exact", "milp-cem"):
        with pytest.raises(ProblemError, match="sparsedyn record-ranges"):
            make_planner(name, model, data_ranges=True)
    make_planner("mppi", model, data_ranges=True)  # the sampling planners ignore it
    graph = load_checkpoint(CHECKPOINTS / "sorting_graph_sparse.pt").model
    with pytest.raises(ProblemError, match="no"):
        make_planner("milp-exact", graph, num_objects=4, data_ranges=True)


def test_a_graph_planner_with_ranges_has_no_more_binaries():
    rng = np.random.default_rng(12)
    torch.manual_seed(12)
    model = GraphDynamics(num_objects=2, action_dim=2, hidden=(6,), message_dim=3).double().eval()
    for network in (model.edge, model.node):
        network.set_kinds([np.full(6, NeuronKind.RELU)])
    states, actions = rng.normal(scale=1.0, size=(40, 6)), rng.uniform(-1, 1, size=(40, 2))
    model.data_ranges = record_ranges(model, states, actions)
    graph = model.export()
    problem = PlanningProblem(
        state=states[0],
        goal=np.zeros(6),
        horizon=3,
        action_low=-np.ones(2),
        action_high=np.ones(2),
        state_weights=np.full(6, 0.5),
        terminal_weights=np.ones(6),
        workspace_low=np.full(6, -10.0),
        workspace_high=np.full(6, 10.0),
        time_limit=2.0,
    )
    sound = MILPPlanner(graph, 6, 2, bounds="linear").build(problem).program
    cut = MILPPlanner(graph, 6, 2, bounds="linear", data_ranges=True)
    assert cut.build(problem).program.num_binaries <= sound.num_binaries
    plan = cut.plan(problem)
    assert plan.extras["data_ranges"] is True and plan.extras["outside_data_ranges"] >= 0


def test_record_ranges_command_adds_the_ranges_and_keeps_the_weights(capsys, tmp_path):
    data = tmp_path / "data.npz"
    transitions = toy_transitions(episodes=6, steps=10, seed=3)
    transitions.save(data)
    model = MLPDynamics(2, 1, hidden=(8,)).eval()
    model.set_kinds([np.full(8, NeuronKind.RELU)])
    path = tmp_path / "model.pt"
    save_checkpoint(path, model, transitions.metadata, {"config": {}})
    assert load_checkpoint(path).model.data_ranges is None
    assert main(["record-ranges", str(path), str(data)]) == 0
    assert "pre-activation ranges of 8 hidden neurons on 60 transitions" in capsys.readouterr().out
    loaded = load_checkpoint(path)
    before, after = model.state_dict(), loaded.model.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[key], after[key]) for key in before)
    expected = record_ranges(model, transitions.observations, transitions.actions)
    np.testing.assert_array_equal(loaded.model.export().data_ranges[0][0], expected.networks["mlp"][0][0])
    assert loaded.info == {"config": {}} and loaded.metadata == transitions.metadata

    other = tmp_path / "other.npz"
    wrong = toy_transitions(episodes=2, steps=5, seed=4)
    wrong.metadata["env_id"] = "sparsedyn/Elsewhere-v0"
    wrong.save(other)
    assert main(["record-ranges", str(path), str(other)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("sparsedyn record-ranges: error:") and "Elsewhere" in err


def test_train_records_the_ranges_on_all_its_data_and_inspect_shows_them(capsys, tmp_path):
    data = tmp_path / "data.npz"
    transitions = toy_transitions(episodes=20, steps=25, seed=3)
    transitions.save(data)
    out = tmp_path / "model.pt"
    tiny = ["--hidden", "16,16", "--rollout-steps", "3", "--epochs", "2", "--phase-epochs", "1", "--quiet"]
    assert main(["train", str(data), "--relu-target", "6", "--out", str(out), *tiny, "--device", "cpu"]) == 0
    assert "data ranges " in capsys.readouterr().out
    model = load_checkpoint(out).model
    expected = record_ranges(model, transitions.observations, transitions.actions)  # training and validation rows
    assert model.data_ranges.fingerprint == expected.fingerprint and model.data_ranges.transitions == 500
    for (low, high), (expected_low, expected_high) in zip(model.export().data_ranges, expected.networks["mlp"]):
        np.testing.assert_array_equal(low, expected_low)
        np.testing.assert_array_equal(high, expected_high)


def test_control_with_data_ranges_on_a_model_without_them_is_one_line(capsys, tmp_path):
    code = main(
        ["control", str(CHECKPOINTS / "pushing_dense.pt"), "--planner", "milp-exact", "--data-ranges"]
        + ["--episodes", "1", "--out", str(tmp_path / "out.json")]
    )
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "record-ranges" in err
