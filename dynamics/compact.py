"""The hard-gated model as a smaller torch module: the network the MILP encodes, fast to evaluate.

A `GatedMLP` evaluates every neuron of its full-width layers and then gates it (ReLU, identity or
zero), so a sparsified model costs as much as the dense one it came from. `compact` replaces every
gated MLP of a model by a `CompactMLP` of its frozen export (`GatedMLP.export`: removed neurons
dropped, ReLU-free layers folded), in the gated MLP's dtype: the same function as the hard-gated
model (eval mode), up to rounding, in a fraction of the operations. The sampling planners evaluate
their model this way: 1.5-2.5x more iterations per second on the planning suite's pushing MLPs and
sorting graph model on the CPU (examples/bench_sampling_speed.py, docs/sampling.md).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from dynamics.frozen import FrozenNetwork
from dynamics.gates import GatedMLP


class CompactMLP(nn.Module):
    """A frozen network without its skip matrix as a torch module: h = max(W h + b, floor) per hidden layer,
    with floor 0 for a ReLU neuron and -inf for an identity neuron; the last layer affine.

    The weights are buffers (float32; `.to` converts them), not parameters: nothing trains them, and
    gradients flow only to the inputs.

    Shapes:
        forward: (..., network.input_dim) -> (..., network.output_dim).

    Raises:
        ValueError: a network with a nonzero skip matrix (a GatedMLP's export has none).
    """

    def __init__(self, network: FrozenNetwork) -> None:
        super().__init__()
        if network.skip.any():
            raise ValueError("a CompactMLP evaluates a frozen network without a skip connection")
        self.depth = len(network.layers)
        for index, layer in enumerate(network.layers):
            self.register_buffer(f"weight{index}", torch.tensor(layer.weight, dtype=torch.float32))
            self.register_buffer(f"bias{index}", torch.tensor(layer.bias, dtype=torch.float32))
            floor = torch.where(torch.as_tensor(layer.relu), 0.0, -torch.inf).to(torch.float32)
            self.register_buffer(f"floor{index}", floor)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        hidden = inputs
        for index in range(self.depth):
            hidden = nn.functional.linear(hidden, getattr(self, f"weight{index}"), getattr(self, f"bias{index}"))
            if index < self.depth - 1:
                hidden = torch.maximum(hidden, getattr(self, f"floor{index}"))
        return hidden


def compact(model: nn.Module) -> nn.Module:
    """A copy of `model` in eval mode with every GatedMLP inside it replaced by its CompactMLP, in the gated
    MLP's dtype and on its device; `model` itself is untouched. A model without gated MLPs comes back as it is.

    The copy is a snapshot: training `model` afterwards does not change it.
    """
    if not any(isinstance(module, GatedMLP) for module in model.modules()):
        return model
    copied = copy.deepcopy(model).eval()
    for parent in list(copied.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, GatedMLP):
                setattr(parent, name, CompactMLP(child.export()).to(child.linears[0].weight))  # its dtype, device
    return copied
