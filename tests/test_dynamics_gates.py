"""Gated MLP, MLP dynamics model and their frozen export."""

import copy

import numpy as np
import pytest
import torch
from torch import nn

from dynamics.errors import ModelConfigError
from dynamics.gates import GatedMLP, NeuronKind, count_kinds, neuron_gates
from dynamics.mlp import MLPDynamics
from dynamics.sparsify import release, set_relaxed

STATE_DIM, ACTION_DIM, HIDDEN = 5, 2, (24, 20, 12)


pytestmark = pytest.mark.usefixtures("one_thread")


def random_model(seed: int, kinds: list[np.ndarray] | None = None) -> MLPDynamics:
    """A model with random weights, random normalisation and random (or given) committed kinds."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = MLPDynamics(STATE_DIM, ACTION_DIM, HIDDEN)
    with torch.no_grad():
        model.input_mean.copy_(torch.randn(STATE_DIM + ACTION_DIM) * 5)
        model.input_std.copy_(torch.rand(STATE_DIM + ACTION_DIM) * 3 + 0.05)
        model.delta_mean.copy_(torch.randn(STATE_DIM))
        model.delta_std.copy_(torch.rand(STATE_DIM) * 2 + 0.05)
    model.set_kinds(kinds if kinds is not None else [rng.integers(0, 3, width) for width in HIDDEN])
    return model.eval()


def far_inputs(seed: int, count: int = 500) -> np.ndarray:
    """Inputs on scales from 1 to 1e4, far outside any data the model could have seen."""
    rng = np.random.default_rng(seed + 1000)
    return rng.normal(size=(count, STATE_DIM + ACTION_DIM)) * 10.0 ** rng.uniform(0, 4, (count, 1))


def torch_next_state(model: MLPDynamics, inputs: np.ndarray, dtype: torch.dtype) -> np.ndarray:
    model = copy.deepcopy(model).to(dtype)
    tensor = torch.as_tensor(inputs, dtype=dtype)
    with torch.no_grad():
        return model(tensor[:, :STATE_DIM], tensor[:, STATE_DIM:]).double().numpy()


def relative_error(actual: np.ndarray, expected: np.ndarray) -> float:
    """Largest error over rows, relative to the row's size."""
    return float(np.max(np.linalg.norm(actual - expected, axis=1) / np.linalg.norm(expected, axis=1)))


SPECIAL_KINDS = {
    "all relu": [np.full(width, NeuronKind.RELU) for width in HIDDEN],
    "middle layer identity only": [
        np.full(24, NeuronKind.RELU),
        np.full(20, NeuronKind.IDENTITY),
        np.full(12, NeuronKind.RELU),
    ],
    "middle layer removed": [np.full(24, NeuronKind.RELU), np.full(20, NeuronKind.ZERO), np.full(12, NeuronKind.RELU)],
    "no relu at all": [
        np.full(24, NeuronKind.IDENTITY),
        np.full(20, NeuronKind.IDENTITY),
        np.full(12, NeuronKind.ZERO),
    ],
}


@pytest.mark.parametrize("seed", range(6))
def test_export_matches_hard_gated_model_on_far_inputs(seed):
    model = random_model(seed)
    inputs = far_inputs(seed)
    frozen = model.export()
    assert relative_error(frozen.forward(inputs), torch_next_state(model, inputs, torch.float64)) < 1e-6
    assert relative_error(frozen.forward(inputs), torch_next_state(model, inputs, torch.float32)) < 1e-5


@pytest.mark.parametrize("name", SPECIAL_KINDS)
def test_export_matches_with_folded_and_removed_layers(name):
    model = random_model(7, SPECIAL_KINDS[name])
    inputs = far_inputs(7)
    frozen = model.export()
    assert relative_error(frozen.forward(inputs), torch_next_state(model, inputs, torch.float64)) < 1e-6
    assert frozen.relu_count == model.kind_counts()["relu"]


def test_export_drops_zero_neurons_and_folds_layers_without_relu():
    rng = np.random.default_rng(3)
    middle = rng.permutation(np.r_[np.full(12, NeuronKind.IDENTITY), np.full(8, NeuronKind.ZERO)])
    kinds = [rng.integers(0, 3, 24), middle, rng.integers(0, 3, 12)]
    frozen = random_model(3, kinds).export()
    # the middle layer has no ReLU and 12 neurons between layers of at most 24 and 12: folding shrinks it
    expected_widths = [int((kinds[0] != NeuronKind.ZERO).sum()), int((kinds[2] != NeuronKind.ZERO).sum()), STATE_DIM]
    assert [layer.out_dim for layer in frozen.layers] == expected_widths
    assert [int(layer.relu.sum()) for layer in frozen.layers] == [
        int((kinds[0] == NeuronKind.RELU).sum()),
        int((kinds[2] == NeuronKind.RELU).sum()),
        0,
    ]
    assert np.array_equal(frozen.skip, np.hstack([np.eye(STATE_DIM), np.zeros((STATE_DIM, ACTION_DIM))]))


def test_export_keeps_a_narrow_identity_layer_when_folding_would_grow_it():
    kinds = [
        np.full(24, NeuronKind.RELU),
        np.r_[np.full(2, NeuronKind.IDENTITY), np.full(18, NeuronKind.ZERO)],
        np.full(12, NeuronKind.RELU),
    ]
    frozen = random_model(4, kinds).export()
    assert [layer.out_dim for layer in frozen.layers] == [24, 2, 12, STATE_DIM]
    assert not frozen.layers[1].relu.any()


def test_kind_counts_follow_set_kinds():
    rng = np.random.default_rng(5)
    kinds = [rng.integers(0, 3, width) for width in HIDDEN]
    model = random_model(5, kinds)
    all_kinds = np.concatenate(kinds)
    assert model.kind_counts() == {
        "zero": int((all_kinds == 0).sum()),
        "identity": int((all_kinds == 1).sum()),
        "relu": int((all_kinds == 2).sum()),
    }


def test_new_model_is_dense_relu_with_identity_normalisation():
    model = MLPDynamics(STATE_DIM, ACTION_DIM).eval()
    assert model.kind_counts() == {"zero": 0, "identity": 0, "relu": 256}
    plain = nn.Sequential(model.net.linears[0], nn.ReLU(), model.net.linears[1], nn.ReLU(), model.net.linears[2])
    state, action = torch.randn(8, STATE_DIM), torch.randn(8, ACTION_DIM)
    with torch.no_grad():
        assert torch.allclose(model(state, action), state + plain(torch.cat([state, action], dim=1)))


@pytest.mark.parametrize(
    "kinds",
    [
        [np.zeros(24, dtype=int)] * 2,  # too few layers
        [np.zeros(24, dtype=int), np.zeros(19, dtype=int), np.zeros(12, dtype=int)],  # wrong width
        [np.full(24, 3), np.zeros(20, dtype=int), np.zeros(12, dtype=int)],  # not a kind
    ],
)
def test_set_kinds_rejects_bad_input(kinds):
    with pytest.raises(ModelConfigError):
        MLPDynamics(STATE_DIM, ACTION_DIM, HIDDEN).set_kinds(kinds)


def test_relaxed_gates_sample_kinds_and_pass_gradients_to_logits_only_in_training():
    model = MLPDynamics(STATE_DIM, ACTION_DIM, HIDDEN)
    release(model)
    set_relaxed(model, True, temperature=0.5)
    state, action = torch.randn(64, STATE_DIM), torch.randn(64, ACTION_DIM)
    model.train()
    model(state, action).pow(2).sum().backward()
    assert all(gate.logits.grad is not None and gate.logits.grad.abs().sum() > 0 for gate in neuron_gates(model))
    model.eval()  # hard gates: argmax of the logits, the same function as the export
    inputs = torch.cat([state, action], dim=1).double().numpy()
    assert relative_error(model.export().forward(inputs), torch_next_state(model, inputs, torch.float64)) < 1e-6


def test_gates_are_found_in_any_module_containing_gated_mlps():
    class TwoFunctions(nn.Module):  # e.g. the edge and node functions of a graph model
        def __init__(self):
            super().__init__()
            self.edge = GatedMLP(4, (8, 6), 3)
            self.node = GatedMLP(5, (7,), 2)

    module = TwoFunctions()
    module.node.set_kinds([np.array([0, 1, 2, 2, 1, 0, 0])])
    assert [gate.width for gate in neuron_gates(module)] == [8, 6, 7]
    assert count_kinds(module) == {"zero": 3, "identity": 2, "relu": 16}
    assert module.edge.export().skip.shape == (3, 4)
    assert not module.edge.export().skip.any()
