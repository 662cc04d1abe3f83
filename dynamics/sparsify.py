"""Gradual sparsification: lower the ReLU budget in phases, committing the gates at each phase end.

Works on any module containing gated layers (an MLP model, or a graph model whose edge and node
functions are GatedMLPs); budgets and counts are for the whole module. One phase:

1. `release`: the ReLU neurons left by the previous phase become free, their logits reset to
   INITIAL_LOGITS (identity and zero neurons stay as they are: a removed neuron never returns);
2. relaxed gates: the weights and the gate logits train together, with a penalty on the expected
   ReLU count above the phase budget, at a temperature annealed from hot to cold;
3. `commit_phase`: every free neuron is committed to its most likely kind; if more ReLUs remain
   than the budget allows, the least likely ReLUs are demoted to identity or zero (whichever is
   likelier), so the phase always ends within budget;
4. fine-tuning of the weights with these hard gates.
"""

from __future__ import annotations

import torch
from torch import nn

from dynamics.gates import NeuronKind, neuron_gates

TEMPERATURE_START = 1.0
TEMPERATURE_END = 0.1


def budget_schedule(dense_count: int, target: int) -> list[int]:
    """ReLU budgets of the phases: halve the dense count until the target is reached.

    >>> budget_schedule(256, 32)
    [128, 64, 32]
    """
    budgets = []
    budget = dense_count // 2
    while budget > target:
        budgets.append(budget)
        budget //= 2
    return budgets + [target] if target < dense_count else []


def temperature(epoch: int, epochs: int) -> float:
    """Geometric annealing from TEMPERATURE_START to TEMPERATURE_END over a phase's gate epochs."""
    fraction = epoch / max(epochs - 1, 1)
    return TEMPERATURE_START * (TEMPERATURE_END / TEMPERATURE_START) ** fraction


def set_relaxed(module: nn.Module, relaxed: bool, temperature: float = 1.0) -> None:
    """Switch every gated layer between sampled (gate training) and hard gates in train mode."""
    for gate in neuron_gates(module):
        gate.relaxed = relaxed
        gate.temperature = temperature


def release(module: nn.Module) -> None:
    """Start a phase: every ReLU neuron becomes free to change kind."""
    for gate in neuron_gates(module):
        gate.release_relu()


def expected_relu_count(module: nn.Module) -> torch.Tensor:
    return sum(gate.probabilities()[:, NeuronKind.RELU].sum() for gate in neuron_gates(module))


def relu_penalty(module: nn.Module, budget: int, strength: float) -> torch.Tensor:
    """strength x (expected ReLU count above the budget): zero once within budget."""
    return strength * torch.relu(expected_relu_count(module) - budget)


@torch.no_grad()
def commit_phase(module: nn.Module, budget: int) -> None:
    """Commit the gates at the end of a phase so that at most `budget` ReLU neurons remain."""
    gates = neuron_gates(module)
    probabilities = torch.cat([gate.probabilities() for gate in gates])
    kinds = torch.cat([gate.hard_kinds() for gate in gates])
    free = torch.cat([gate.free for gate in gates])
    relu = kinds == NeuronKind.RELU
    excess = int(relu.sum()) - budget
    if excess > int((relu & free).sum()):
        raise ValueError(f"more than {budget} neurons are committed to ReLU; cannot reach the budget")
    if excess > 0:
        relu_probability = torch.where(relu & free, probabilities[:, NeuronKind.RELU], torch.inf)
        demoted = torch.argsort(relu_probability, stable=True)[:excess]
        identity_likelier = probabilities[demoted, NeuronKind.IDENTITY] >= probabilities[demoted, NeuronKind.ZERO]
        kinds[demoted] = torch.where(identity_likelier, int(NeuronKind.IDENTITY), int(NeuronKind.ZERO))
    widths = [gate.width for gate in gates]
    for gate, gate_kinds, gate_free in zip(gates, kinds.split(widths), free.split(widths)):
        gate.commit(gate_free, gate_kinds[gate_free])
