"""Frozen piecewise-linear networks: the seam between the dynamics models and the MILP encoder.

A frozen network is plain numpy arrays, no torch. Each layer is an affine map followed, per
neuron, by either a ReLU or nothing (identity); removed neurons are simply absent. The last
layer is purely affine. A residual connection is explicit as a `skip` matrix:

    h_0 = input
    h_k = act_k(W_k h_{k-1} + b_k)          act = ReLU where relu[k][i], else identity
    output = h_L + skip @ input

For an MLP dynamics model the input is [state, action] and the output is the next state, with
normalisation folded into the first and last affine maps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FrozenLayer:
    """One affine map plus a per-neuron choice of ReLU (True) or identity (False)."""

    weight: np.ndarray  # (out, in)
    bias: np.ndarray  # (out,)
    relu: np.ndarray  # (out,) bool

    def __post_init__(self) -> None:
        out_dim = self.weight.shape[0]
        if self.weight.ndim != 2 or self.bias.shape != (out_dim,) or self.relu.shape != (out_dim,):
            raise ValueError("a frozen layer needs weight (out, in), bias (out,) and relu (out,)")

    @property
    def in_dim(self) -> int:
        return self.weight.shape[1]

    @property
    def out_dim(self) -> int:
        return self.weight.shape[0]

    def forward(self, inputs: np.ndarray) -> np.ndarray:
        pre = inputs @ self.weight.T + self.bias
        return np.where(self.relu, np.maximum(pre, 0.0), pre)


@dataclass(frozen=True)
class FrozenNetwork:
    """A stack of frozen layers with an explicit residual `skip` matrix (output, input)."""

    layers: tuple[FrozenLayer, ...]
    skip: np.ndarray

    def __post_init__(self) -> None:
        if not self.layers:
            raise ValueError("a frozen network needs at least one layer")
        for previous, layer in zip(self.layers, self.layers[1:]):
            if layer.in_dim != previous.out_dim:
                raise ValueError("consecutive frozen layers do not fit together")
        if self.layers[-1].relu.any():
            raise ValueError("the output layer of a frozen network must be affine")
        if self.skip.shape != (self.output_dim, self.input_dim):
            raise ValueError("skip must be (output_dim, input_dim)")

    @property
    def input_dim(self) -> int:
        return self.layers[0].in_dim

    @property
    def output_dim(self) -> int:
        return self.layers[-1].out_dim

    @property
    def relu_count(self) -> int:
        return int(sum(layer.relu.sum() for layer in self.layers))

    @property
    def identity_count(self) -> int:
        """Hidden neurons without a ReLU (the output layer is not counted)."""
        return int(sum((~layer.relu).sum() for layer in self.layers[:-1]))

    def forward(self, inputs: np.ndarray) -> np.ndarray:
        """Evaluate on a batch (..., input_dim) in float64."""
        inputs = np.asarray(inputs, dtype=np.float64)
        hidden = inputs
        for layer in self.layers:
            hidden = layer.forward(hidden)
        return hidden + inputs @ self.skip.T
