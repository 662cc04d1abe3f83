"""Hidden neurons with a three-way gate: ReLU, identity or removed (zero).

Each hidden neuron of a `GatedMLP` is either *committed* to one kind or *free*. A free neuron's
kind is decided by three learnable logits (one per kind): in hard mode it is their argmax, in
relaxed mode (training the gates) each forward pass samples a kind with the
straight-through Gumbel-softmax estimator, so the forward pass always runs a real discrete
network while the logits receive gradients. Eval mode is always hard.

A new network has every neuron committed to ReLU: a plain dense ReLU MLP.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import IntEnum

import numpy as np
import torch
from torch import nn

from dynamics.errors import ModelConfigError
from dynamics.frozen import FrozenLayer, FrozenNetwork


class NeuronKind(IntEnum):
    """What a hidden neuron has become: removed, identity (linear) or ReLU."""

    ZERO = 0
    IDENTITY = 1
    RELU = 2


KIND_NAMES = {kind: kind.name.lower() for kind in NeuronKind}

# Logits a free neuron starts from (ZERO, IDENTITY, RELU): a ReLU neuron that may still change.
INITIAL_LOGITS = (0.0, 0.0, 3.0)


class NeuronGates(nn.Module):
    """The gates of one hidden layer: per neuron a committed kind or three logits."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.logits = nn.Parameter(torch.tensor(INITIAL_LOGITS).repeat(width, 1))
        self.register_buffer("kind", torch.full((width,), int(NeuronKind.RELU), dtype=torch.long))
        self.register_buffer("free", torch.zeros(width, dtype=torch.bool))
        self.relaxed = False  # sample free gates (training the gates) instead of taking the argmax
        self.temperature = 1.0

    @property
    def width(self) -> int:
        return self.kind.shape[0]

    def hard_kinds(self) -> torch.Tensor:
        """The kind each neuron has in hard mode, (width,) long."""
        return torch.where(self.free, self.logits.detach().argmax(dim=-1), self.kind)

    def probabilities(self) -> torch.Tensor:
        """(width, 3) probability of each kind: softmax of the logits if free, one-hot if committed."""
        committed = nn.functional.one_hot(self.kind, len(NeuronKind)).to(self.logits.dtype)
        return torch.where(self.free[:, None], self.logits.softmax(dim=-1), committed)

    def commit(self, mask: torch.Tensor, kinds: torch.Tensor) -> None:
        """Fix the neurons in `mask` to `kinds` (same shape as the mask's True entries)."""
        self.kind[mask] = kinds
        self.free[mask] = False

    @torch.no_grad()
    def release_relu(self) -> None:
        """Let every neuron committed to ReLU be decided by its logits again, starting from INITIAL_LOGITS."""
        relu = self.kind == NeuronKind.RELU
        self.logits[relu] = torch.tensor(INITIAL_LOGITS, dtype=self.logits.dtype, device=self.logits.device)
        self.free |= relu

    def forward(self, pre: torch.Tensor) -> torch.Tensor:
        if self.training and self.relaxed and bool(self.free.any()):
            return self._relaxed(pre)
        kinds = self.hard_kinds()
        kept = (kinds != NeuronKind.ZERO).to(pre.dtype)
        return torch.where(kinds == NeuronKind.RELU, pre.clamp(min=0), pre) * kept

    def _relaxed(self, pre: torch.Tensor) -> torch.Tensor:
        """Straight-through Gumbel-softmax: hard one-hot samples forward, soft gradients backward.

        One sample of every gate per call, shared by the batch: as cheap as hard mode.
        """
        logits = self.logits.to(pre.dtype)
        uniform = torch.rand_like(logits).clamp(1e-10, 1.0 - 1e-7)
        soft = ((logits - torch.log(-torch.log(uniform))) / self.temperature).softmax(dim=-1)
        hard = nn.functional.one_hot(soft.argmax(dim=-1), len(NeuronKind)).to(pre.dtype)
        sampled = hard - soft.detach() + soft
        committed = nn.functional.one_hot(self.kind, len(NeuronKind)).to(pre.dtype)
        weights = torch.where(self.free[:, None], sampled, committed)
        return weights[..., NeuronKind.RELU] * pre.clamp(min=0) + weights[..., NeuronKind.IDENTITY] * pre


class GatedMLP(nn.Module):
    """Linear layers with a gate on every hidden neuron; the output layer is affine."""

    def __init__(self, in_dim: int, hidden: Sequence[int], out_dim: int) -> None:
        super().__init__()
        widths = [in_dim, *hidden, out_dim]
        self.linears = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths, widths[1:]))
        self.gates = nn.ModuleList(NeuronGates(width) for width in hidden)

    @property
    def hidden(self) -> tuple[int, ...]:
        return tuple(gate.width for gate in self.gates)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        hidden = inputs
        for linear, gate in zip(self.linears, self.gates):
            hidden = gate(linear(hidden))
        return self.linears[-1](hidden)

    def kind_counts(self) -> dict[str, int]:
        return count_kinds(self)

    def set_kinds(self, kinds: Sequence[np.ndarray]) -> None:
        """Commit every hidden neuron by hand: one int array of NeuronKind values per hidden layer."""
        if len(kinds) != len(self.gates):
            raise ModelConfigError(f"expected kinds for {len(self.gates)} hidden layers, got {len(kinds)}")
        for layer, (gate, layer_kinds) in enumerate(zip(self.gates, kinds)):
            layer_kinds = torch.as_tensor(np.asarray(layer_kinds), dtype=torch.long, device=gate.kind.device)
            if layer_kinds.shape != (gate.width,):
                raise ModelConfigError(
                    f"hidden layer {layer} has {gate.width} neurons, got {tuple(layer_kinds.shape)} kinds"
                )
            if bool(((layer_kinds < 0) | (layer_kinds >= len(NeuronKind))).any()):
                raise ModelConfigError("neuron kinds must be 0 (zero), 1 (identity) or 2 (relu)")
            gate.commit(torch.ones(gate.width, dtype=torch.bool, device=gate.kind.device), layer_kinds)

    def export(self) -> FrozenNetwork:
        """The hard-gated network as float64 arrays, zero neurons dropped (skip = 0), from a network on any device.

        A hidden layer left without any ReLU is affine, so it is folded into the next affine map
        whenever the merged matrix has no more nonzero entries than the two it replaces.
        """
        weights = [linear.weight.detach().cpu().double().numpy() for linear in self.linears]
        biases = [linear.bias.detach().cpu().double().numpy() for linear in self.linears]
        layers = []
        weight, bias = weights[0], biases[0]
        for index, gate in enumerate(self.gates):
            kinds = gate.hard_kinds().cpu().numpy()
            kept = kinds != NeuronKind.ZERO
            weight, bias, kinds = weight[kept], bias[kept], kinds[kept]
            next_weight, next_bias = weights[index + 1][:, kept], biases[index + 1]
            relu = kinds == NeuronKind.RELU
            merged = next_weight @ weight
            if not relu.any() and np.count_nonzero(merged) <= np.count_nonzero(weight) + np.count_nonzero(next_weight):
                weight, bias = merged, next_weight @ bias + next_bias
            else:
                layers.append(FrozenLayer(weight, bias, relu))
                weight, bias = next_weight, next_bias
        layers.append(FrozenLayer(weight, bias, np.zeros(weight.shape[0], dtype=bool)))
        return FrozenNetwork(layers=tuple(layers), skip=np.zeros((weight.shape[0], weights[0].shape[1])))


def neuron_gates(module: nn.Module) -> list[NeuronGates]:
    """Every gated hidden layer inside `module`, in a fixed order (works for any model of GatedMLPs)."""
    return [child for child in module.modules() if isinstance(child, NeuronGates)]


def count_kinds(module: nn.Module) -> dict[str, int]:
    """Hard-mode counts of ReLU, identity and zero neurons over all gated layers in `module`."""
    counts = {name: 0 for name in KIND_NAMES.values()}
    for gate in neuron_gates(module):
        kinds = gate.hard_kinds()
        for kind, name in KIND_NAMES.items():
            counts[name] += int((kinds == kind).sum())
    return counts
