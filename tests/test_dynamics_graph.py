"""Graph dynamics model: message passing on each edge set, export to FrozenGraph, N-independence, training CLI,
checkpoints, the bundled sorting models' predictions, the bundled rope models on the chain."""

from pathlib import Path

import numpy as np
import pytest
import torch
from toy import toy_transitions

from dynamics.checkpoint import load_checkpoint, save_checkpoint
from dynamics.errors import DataError, ModelConfigError
from dynamics.frozen import EDGE_SETS, FrozenGraph, graph_edges
from dynamics.graph import GraphDynamics, batched_edge_index, object_count
from dynamics.train import TrainConfig
from envs.collect import collect_transitions
from mpc.main import main

TRAINED_OBJECTS, ACTION_DIM, HIDDEN, MESSAGE_DIM = 3, 2, (12, 10), 6
TINY = [
    "--hidden",
    "8,8",
    "--message-dim",
    "4",
    "--rollout-steps",
    "2",
    "--epochs",
    "2",
    "--phase-epochs",
    "1",
    "--batch-size",
    "64",
    "--eval-steps",
    "3",
    "--quiet",
]


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def sorting_files(tmp_path_factory):
    """Small sorting data sets with 3 objects (to train on) and with 4 objects (to run the same model on)."""
    directory = tmp_path_factory.mktemp("sorting")
    paths = {}
    for num_objects in (3, 4):
        paths[num_objects] = directory / f"sorting{num_objects}.npz"
        collect_transitions(
            "ObjectSorting-v0", episodes=8, steps=15, seed=num_objects, env_kwargs={"num_objects": num_objects}
        ).save(paths[num_objects])
    return paths


def random_model(seed: int, edge_set: str = "all_pairs") -> GraphDynamics:
    """Random weights, random normalisation and random kinds (relu, identity, zero) in both networks, float64."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = GraphDynamics(TRAINED_OBJECTS, ACTION_DIM, HIDDEN, MESSAGE_DIM, edge_set)
    with torch.no_grad():
        for name in ("edge", "node", "delta"):
            mean, std = getattr(model, f"{name}_mean"), getattr(model, f"{name}_std")
            mean.copy_(torch.randn_like(mean) * 3)
            std.copy_(torch.rand_like(std) * 2 + 0.1)
    for network in model.networks().values():
        network.set_kinds([rng.choice(3, size=width, p=[0.3, 0.3, 0.4]) for width in network.hidden])
    return model.double().eval()


def random_batch(seed: int, num_objects: int, batch: int = 40) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed + 100)
    state = torch.randn(batch, 2 * (num_objects + 1), generator=generator, dtype=torch.float64) * 8
    return state, torch.randn(batch, ACTION_DIM, generator=generator, dtype=torch.float64) * 2


def relative_error(actual: np.ndarray, expected: np.ndarray) -> float:
    """Largest error over rows, relative to the row's size."""
    return float(np.max(np.linalg.norm(actual - expected, axis=1) / np.linalg.norm(expected, axis=1)))


def by_hand(model: GraphDynamics, state: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
    """The documented step, one edge at a time, with the model's torch edge and node functions (no torch-geometric)."""
    num_objects = state.shape[1] // 2 - 1
    positions = state.reshape(len(state), num_objects + 1, 2)
    controls = torch.zeros(len(state), num_objects + 1, 1 + ACTION_DIM, dtype=state.dtype)
    controls[:, 0, 0], controls[:, 0, 1:] = 1.0, action
    summed = torch.zeros(len(state), num_objects + 1, model.message_dim, dtype=state.dtype)
    for sender, receiver in zip(*graph_edges(num_objects, model.edge_set)):
        edge_input = torch.cat([positions[:, sender] - positions[:, receiver], controls[:, sender]], dim=-1)
        summed[:, receiver] += model.edge((edge_input - model.edge_mean) / model.edge_std)
    node_input = (torch.cat([positions, controls, summed], dim=-1) - model.node_mean) / model.node_std
    return (positions + model.node(node_input) * model.delta_std + model.delta_mean).reshape(state.shape)


def by_edge(model: GraphDynamics, state: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Receiver positions, sender positions and sender control inputs of every edge of the batch."""
    pos, control, (senders, receivers) = model.graph(state, action)
    return pos[receivers], pos[senders], control[senders]


def test_edge_sets_are_all_pairs_or_pusher_and_chain_neighbours():
    def pairs(num_objects, edge_set):
        return list(zip(*(nodes.tolist() for nodes in graph_edges(num_objects, edge_set))))

    assert pairs(2, "all_pairs") == [(0, 1), (2, 1), (0, 2), (1, 2)]  # by receiver, then sender
    assert pairs(4, "chain") == [(0, 1), (2, 1), (0, 2), (1, 2), (3, 2), (0, 3), (2, 3), (4, 3), (0, 4), (3, 4)]
    assert pairs(1, "chain") == pairs(1, "all_pairs") == [(0, 1)]
    for num_objects in (1, 5, 16):
        assert len(pairs(num_objects, "all_pairs")) == num_objects**2
        assert len(pairs(num_objects, "chain")) == 3 * num_objects - 2
    assert set(EDGE_SETS) == {"all_pairs", "chain"}
    with pytest.raises(ValueError, match="unknown edge set 'ring'; choose one of all_pairs, chain"):
        graph_edges(3, "ring")
    with pytest.raises(ModelConfigError, match="unknown edge set"):
        GraphDynamics(3, ACTION_DIM, edge_set="ring")


@pytest.mark.parametrize("edge_set", EDGE_SETS)
@pytest.mark.parametrize("num_objects", [1, TRAINED_OBJECTS, 6])
def test_message_passing_is_the_documented_step(num_objects, edge_set):
    model = random_model(num_objects, edge_set)
    state, action = random_batch(num_objects, num_objects)
    with torch.no_grad():
        assert torch.allclose(model(state, action), by_hand(model, state, action), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("edge_set", EDGE_SETS)
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("num_objects", [None, 1, 5, 10])
def test_export_equals_the_torch_model(seed, num_objects, edge_set):
    model = random_model(seed, edge_set)
    frozen = model.export(num_objects)
    assert frozen.num_objects == (TRAINED_OBJECTS if num_objects is None else num_objects)
    assert frozen.edge_set == edge_set and frozen.with_objects(7).edge_set == edge_set
    expected = graph_edges(frozen.num_objects, edge_set)
    assert all(np.array_equal(mine, theirs) for mine, theirs in zip(frozen.edges, expected))
    state, action = random_batch(seed, frozen.num_objects)
    with torch.no_grad():
        expected = model(state, action).numpy()
    assert relative_error(frozen.forward(torch.cat([state, action], dim=1).numpy()), expected) < 1e-6
    assert frozen.relu_count == model.kind_counts()["relu"]
    assert frozen.edge.relu_count == model.edge.kind_counts()["relu"]


def test_a_frozen_graph_refuses_an_unknown_edge_set():
    frozen = random_model(0).export()
    with pytest.raises(ValueError, match="unknown edge set 'ring'"):
        FrozenGraph(frozen.edge, frozen.node, 3, ACTION_DIM, "ring")
    assert FrozenGraph(frozen.edge, frozen.node, 3, ACTION_DIM).edge_set == "all_pairs"  # the default


SORTING_PREDICTIONS = Path(__file__).parent / "data" / "sorting_graph_predictions.npz"
CHECKPOINTS = Path(__file__).parents[1] / "examples" / "checkpoints"


@pytest.mark.parametrize("name", ["dense", "sparse"])
@pytest.mark.parametrize("num_objects", [4, 6])
def test_bundled_sorting_models_load_on_all_pairs_and_predict_as_before(name, num_objects):
    """SORTING_PREDICTIONS holds what the bundled sorting checkpoints predicted (torch model and export) before
    edge sets existed (made by tests/data/make_sorting_graph_predictions.py)."""
    expected = np.load(SORTING_PREDICTIONS)
    model = load_checkpoint(CHECKPOINTS / f"sorting_graph_{name}.pt").model
    assert model.edge_set == "all_pairs"
    states, actions = expected[f"states{num_objects}"], expected[f"actions{num_objects}"]
    with torch.no_grad():
        predicted = model(torch.as_tensor(states), torch.as_tensor(actions)).numpy()
    np.testing.assert_allclose(predicted, expected[f"{name}_torch{num_objects}"], rtol=0, atol=1e-5)
    frozen = model.export(num_objects)
    assert frozen.edge_set == "all_pairs"
    np.testing.assert_allclose(
        frozen.forward(np.concatenate([states, actions], axis=1).astype(np.float64)),
        expected[f"{name}_frozen{num_objects}"],
        rtol=0,
        atol=1e-9,
    )


@pytest.mark.parametrize("name", ["dense", "sparse"])
def test_bundled_rope_models_run_on_the_chain_and_predict_unseen_pushes_better_than_a_still_rope(name):
    checkpoint = load_checkpoint(CHECKPOINTS / f"rope_graph_{name}.pt")
    model = checkpoint.model
    assert checkpoint.metadata["env_id"] == "sparsedyn/RopeShaping-v0" and model.edge_set == "chain"
    assert checkpoint.info["kind_counts"]["relu"] == (128 if name == "dense" else 16)
    data = collect_transitions("RopeShaping-v0", episodes=4, steps=50, seed=11)  # not the training seed
    states, actions = data.observations.astype(np.float64), data.actions.astype(np.float64)
    with torch.no_grad():
        predicted = model.double()(torch.as_tensor(states), torch.as_tensor(actions)).numpy()
    moved = np.abs(data.next_observations[:, 2:] - data.observations[:, 2:]).max(axis=1) > 0.05
    assert moved.sum() > 20  # pushes that move the rope, where a model has something to predict
    still = states.copy()  # the baseline: the rope stays where it is and the pusher moves by the action
    still[:, :2] += actions
    for rows in (slice(None), moved):
        model_error = np.sqrt(np.mean((predicted[rows] - data.next_observations[rows]) ** 2))
        still_error = np.sqrt(np.mean((still[rows] - data.next_observations[rows]) ** 2))
        assert model_error < 0.8 * still_error
    frozen = model.export(10)
    assert frozen.edge_set == "chain" and len(frozen.edges[0]) == 3 * 10 - 2
    np.testing.assert_allclose(frozen.forward(np.concatenate([states, actions], axis=1)), predicted, rtol=0, atol=1e-6)


def test_runs_on_any_number_of_objects_and_treats_objects_alike():
    model = random_model(0)
    state, action = random_batch(0, 5)
    order = torch.tensor([3, 1, 5, 2, 4])  # objects in another order, the pusher stays node 0
    nodes = torch.cat([torch.tensor([0]), order])
    columns = torch.stack([2 * nodes, 2 * nodes + 1], dim=1).ravel()
    with torch.no_grad():
        following = model(state, action)
        permuted = model(state[:, columns], action)
    assert following.shape == state.shape
    assert torch.allclose(permuted, following[:, columns], rtol=1e-12, atol=1e-12)


def test_batched_forward_equals_one_state_at_a_time_and_reuses_the_edge_index():
    model = random_model(1)
    state, action = random_batch(1, 4, batch=7)
    with torch.no_grad():
        batched = model(state, action)
        single = torch.cat([model(state[i : i + 1], action[i : i + 1]) for i in range(7)])
    assert torch.allclose(batched, single, rtol=1e-12, atol=1e-12)
    assert batched_edge_index(7, 4) is batched_edge_index(7, 4)
    assert batched_edge_index(7, 4).shape == (2, 7 * 4 * 4) and batched_edge_index(7, 4, "chain").shape == (2, 7 * 10)


def test_actions_get_gradients_for_the_gradient_planner():
    model = random_model(2)
    state, action = random_batch(2, 3)
    action.requires_grad_(True)
    model(state, action).sum().backward()
    assert action.grad is not None and action.grad.abs().sum() > 0


def test_recording_messages_sees_every_edge_function_application_inside_the_block_only():
    model = random_model(4)
    state, action = random_batch(4, 3)
    with model.recording_messages() as sizes:
        model(state, action)
        model(state, action)
    model(state, action)
    with torch.no_grad():
        messages = model.message(*by_edge(model, state, action))
    assert len(sizes) == 2 and torch.allclose(sizes[0], messages.abs().mean())


def test_normalisation_standardises_edge_and_node_inputs_and_position_changes():
    model = GraphDynamics(TRAINED_OBJECTS, ACTION_DIM, HIDDEN, MESSAGE_DIM)
    state, action = random_batch(3, TRAINED_OBJECTS, batch=500)
    following = state + torch.randn_like(state)
    model.fit_normalisation(state.float(), action.float(), following.float())
    pos, control, _ = model.graph(state, action)
    edge_inputs = (model.edge_inputs(*by_edge(model, state, action)) - model.edge_mean) / model.edge_std
    assert torch.allclose(edge_inputs.mean(0), torch.zeros(5, dtype=torch.float64), atol=1e-5)
    assert torch.allclose(edge_inputs.std(0), torch.ones(5, dtype=torch.float64), atol=1e-5)
    known = 2 + 1 + ACTION_DIM  # the messages are not standardised
    node_inputs = (torch.cat([pos, control], dim=1) - model.node_mean[:known]) / model.node_std[:known]
    assert torch.allclose(node_inputs.std(0), torch.ones(known, dtype=torch.float64), atol=1e-5)
    assert torch.equal(model.node_mean[known:], torch.zeros(MESSAGE_DIM))


def test_wrong_state_widths_are_a_typed_error():
    model = random_model(0)
    for state in (torch.zeros(2, 5), torch.zeros(8)):
        with pytest.raises(ModelConfigError, match="\\(B, 2 \\(N \\+ 1\\)\\)"):
            model(state.double(), torch.zeros(2, ACTION_DIM, dtype=torch.float64))
    assert object_count(["pusher_x", "pusher_y", "obj0_x", "obj0_y"]) == 1
    assert object_count(["pusher_x", "pusher_y", "particle0_x", "particle0_y", "particle1_x", "particle1_y"]) == 2
    for layout in (["keypoint0_x", "keypoint0_y"], ["obj0_x", "obj0_y", "particle1_x", "particle1_y"]):
        with pytest.raises(DataError, match="pusher and object positions"):
            object_count(["pusher_x", "pusher_y", *layout])


@pytest.mark.parametrize("edge_set", EDGE_SETS)
def test_checkpoint_round_trip(tmp_path, edge_set):
    model = random_model(5, edge_set).float()
    info = {"graph": model.graph_info()}
    save_checkpoint(tmp_path / "g.pt", model, {"env_id": "x"}, info)
    loaded = load_checkpoint(tmp_path / "g.pt")
    assert isinstance(loaded.model, GraphDynamics) and loaded.model.config() == model.config()
    assert loaded.model.edge_set == edge_set and loaded.model.config()["edge_set"] == edge_set
    assert loaded.info["graph"] == {
        "num_objects": TRAINED_OBJECTS,
        "runs_on_any_num_objects": True,
        "edge_set": edge_set,
        "edges": EDGE_SETS[edge_set],
    }
    state, action = random_batch(5, 4)
    with torch.no_grad():
        assert torch.equal(loaded.model(state.float(), action.float()), model(state.float(), action.float()))


def test_config_defaults_per_model():
    assert TrainConfig().hidden == (128, 128) and TrainConfig().message_dim is None
    graph = TrainConfig(model="graph", relu_target=8)
    assert (
        graph.hidden == (32, 32) and graph.message_dim == 16 and graph.message_penalty == 1.0 and graph.neurons == 128
    )
    with pytest.raises(ModelConfigError, match="130 hidden neurons"):
        TrainConfig(model="graph", hidden=(40, 25), relu_target=131).validate()
    with pytest.raises(ModelConfigError, match="graph only"):
        TrainConfig(message_dim=8).validate()
    assert graph.edge_set is None  # the data's
    with pytest.raises(ModelConfigError, match="--edge-set applies to --model graph only"):
        TrainConfig(edge_set="chain").validate()
    with pytest.raises(ModelConfigError, match="--edge-set 'ring' is not one of all_pairs, chain"):
        TrainConfig(model="graph", edge_set="ring").validate()


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_train_graph_then_inspect_on_another_number_of_objects(capsys, sorting_files, tmp_path):
    out = tmp_path / "graph.pt"
    code, stdout, _ = run(
        capsys, "train", sorting_files[3], "--model", "graph", "--relu-target", 5, "--out", out, *TINY
    )
    assert code == 0
    checkpoint = load_checkpoint(out)
    info = checkpoint.info
    assert isinstance(checkpoint.model, GraphDynamics) and info["config"]["model"] == "graph"
    assert info["graph"]["num_objects"] == 3 and info["graph"]["runs_on_any_num_objects"]
    per_network = info["network_kind_counts"]
    assert set(per_network) == {"edge", "node"}
    assert {kind: per_network["edge"][kind] + per_network["node"][kind] for kind in per_network["edge"]} == info[
        "kind_counts"
    ]
    assert info["kind_counts"]["relu"] <= 5 and sum(info["kind_counts"].values()) == 32
    assert "trained with 3 objects" in stdout and "edge 5 -> 8 -> 8 -> 4" in stdout
    assert f"edge: relu {per_network['edge']['relu']}," in stdout

    code, report, _ = run(capsys, "inspect", out, "--data", sorting_files[4])
    assert code == 0 and report.startswith(stdout)
    line = report.splitlines()[-1]
    assert line.startswith(f"data        {sorting_files[4]}: 120 transitions, state 10; one-step RMSE ")


def test_graph_model_takes_the_edge_set_the_data_names_unless_told(capsys, tmp_path):
    rope = tmp_path / "rope.npz"
    collect_transitions("RopeShaping-v0", episodes=6, steps=12, seed=0, env_kwargs={"num_particles": 4}).save(rope)
    for option, edge_set in (([], "chain"), (["--edge-set", "all_pairs"], "all_pairs")):
        out = tmp_path / f"{edge_set}.pt"
        code, stdout, _ = run(capsys, "train", rope, "--model", "graph", *option, "--out", out, *TINY)
        assert code == 0
        checkpoint = load_checkpoint(out)
        assert checkpoint.model.edge_set == edge_set and checkpoint.info["graph"]["edge_set"] == edge_set
        edges = {"chain": 10, "all_pairs": 16}[edge_set]
        assert f"trained with 4 objects ({edges} edges, {edge_set}: " in stdout
        assert checkpoint.model.export(9).edges[0].size == {"chain": 25, "all_pairs": 81}[edge_set]


def test_graph_model_on_data_without_objects_is_one_clear_error(capsys, sorting_files, tmp_path):
    toy = tmp_path / "toy.npz"
    toy_transitions(episodes=4, steps=5).save(toy)
    code, _, err = run(capsys, "train", toy, "--model", "graph", "--out", tmp_path / "g.pt", *TINY)
    assert code != 0 and err.count("\n") == 1 and "pusher and object positions" in err
    assert not (tmp_path / "g.pt").exists()
    for option in ("--message-dim", "--message-penalty"):
        code, _, err = run(capsys, "train", toy, option, "4", "--out", tmp_path / "m.pt", "--quiet")
        assert code != 0 and err.count("\n") == 1 and f"{option} applies to --model graph only" in err
