"""Sparsification schedule pieces: budgets, penalty, commits, on any module holding gated layers."""

import torch
from torch import nn

from dynamics.gates import GatedMLP, NeuronKind, count_kinds, neuron_gates
from dynamics.sparsify import budget_schedule, commit_phase, expected_relu_count, release, relu_penalty, temperature


class TwoFunctions(nn.Module):
    """Stands in for a graph model: two GatedMLPs sparsified together."""

    def __init__(self):
        super().__init__()
        self.edge = GatedMLP(4, (10, 6), 3)
        self.node = GatedMLP(5, (8,), 2)


def test_budgets_halve_down_to_the_target():
    assert budget_schedule(256, 32) == [128, 64, 32]
    assert budget_schedule(256, 50) == [128, 64, 50]
    assert budget_schedule(256, 200) == [200]
    assert budget_schedule(256, 0)[-2:] == [1, 0]
    assert budget_schedule(256, 256) == []


def test_temperature_anneals_from_hot_to_cold():
    values = [temperature(epoch, 5) for epoch in range(5)]
    assert values == sorted(values, reverse=True)
    assert values[0] == 1.0 and abs(values[-1] - 0.1) < 1e-12


def test_penalty_counts_expected_relus_above_budget_only():
    module = TwoFunctions()
    assert expected_relu_count(module).item() == 24  # every neuron committed to ReLU
    release(module)
    expected = expected_relu_count(module).item()
    assert 0 < expected < 24
    assert relu_penalty(module, budget=24, strength=1.0).item() == 0.0
    assert abs(relu_penalty(module, budget=10, strength=2.0).item() - 2.0 * (expected - 10)) < 1e-5


def test_commit_phase_reaches_the_budget_across_all_gated_layers_demoting_least_likely_relus():
    module = TwoFunctions()
    release(module)
    gates = neuron_gates(module)
    with torch.no_grad():
        for gate in gates:  # a spread of ReLU probabilities, some neurons preferring identity or zero
            gate.logits.copy_(torch.randn(gate.width, 3, generator=torch.Generator().manual_seed(gate.width)) * 2)
    probabilities = torch.cat([gate.probabilities() for gate in gates])
    argmax = probabilities.argmax(dim=1)
    relu_by_argmax = argmax == NeuronKind.RELU
    budget = int(relu_by_argmax.sum()) - 3
    commit_phase(module, budget)

    kinds = torch.cat([gate.kind for gate in gates])
    assert not any(gate.free.any() for gate in gates)
    assert count_kinds(module)["relu"] == budget
    # kept ReLUs are the most likely ones; the demoted three became their likelier linear kind
    kept = kinds == NeuronKind.RELU
    assert probabilities[kept, NeuronKind.RELU].min() >= probabilities[relu_by_argmax & ~kept, NeuronKind.RELU].max()
    demoted = relu_by_argmax & ~kept
    assert int(demoted.sum()) == 3
    likelier = torch.where(probabilities[demoted, NeuronKind.IDENTITY] >= probabilities[demoted, NeuronKind.ZERO], 1, 0)
    assert torch.equal(kinds[demoted], likelier)
    assert torch.equal(kinds[~relu_by_argmax], argmax[~relu_by_argmax])


def test_release_frees_only_relu_neurons_with_fresh_logits():
    module = GatedMLP(3, (6,), 2)
    module.set_kinds([torch.tensor([2, 2, 1, 0, 2, 1])])
    with torch.no_grad():
        module.gates[0].logits.fill_(7.0)
    release(module)
    gate = module.gates[0]
    assert gate.free.tolist() == [True, True, False, False, True, False]
    assert torch.equal(gate.logits[gate.free], torch.tensor([[0.0, 0.0, 3.0]] * 3))
    assert gate.hard_kinds().tolist() == [2, 2, 1, 0, 2, 1]
