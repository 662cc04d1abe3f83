"""Mixed-integer formulation of a frozen network, for K copies at once.

A planner applies one network many times: an MLP dynamics model once per step, a graph model's
edge network once per edge per step. `encode_network_copies` adds all copies in one vectorised
call (block structure, numpy + scipy.sparse per layer), given each copy's input as an affine
map of existing columns and the pre-activation bounds of each copy.

Per hidden neuron, from its bounds l <= z <= u:

    identity, or ReLU with l >= 0   y = W h + b                      (one column y)
    ReLU with u <= 0                absent: y = 0                   (no column)
    ReLU with l < 0 < u             z = W h + b,  y >= z,  y >= 0,  (columns z, y, binary a)
                                    y <= z - l (1 - a),  y <= u a
    zero neuron                     not in the frozen network at all

The output layer is affine and adds the explicit residual: out = W h + b + skip @ input.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from dynamics.frozen import FrozenNetwork
from mpc.bounds import NetworkBounds
from mpc.program import ProgramBuilder


@dataclass(frozen=True)
class AffineMap:
    """K vectors of d affine expressions of program columns: copy k is matrix[k*d:(k+1)*d] @ v + offset[k]."""

    matrix: sp.csr_array  # (K * d, some number of columns)
    offset: np.ndarray  # (K, d)

    @property
    def copies(self) -> int:
        return self.offset.shape[0]

    @property
    def dim(self) -> int:
        return self.offset.shape[1]

    def widened(self, num_columns: int) -> sp.csr_array:
        """The matrix with as many columns as the program has now."""
        matrix = sp.csr_array(self.matrix, copy=True)
        matrix.resize((matrix.shape[0], num_columns))
        return matrix

    def then_affine(self, weight: np.ndarray, bias: np.ndarray, num_columns: int) -> AffineMap:
        """weight @ (this map) + bias, copy by copy."""
        blocks = sp.kron(sp.eye_array(self.copies, format="csr"), sp.csr_array(weight), format="csr")
        return AffineMap(sp.csr_array(blocks @ self.widened(num_columns)), self.offset @ weight.T + bias)

    def __add__(self, other: AffineMap) -> AffineMap:
        columns = max(self.matrix.shape[1], other.matrix.shape[1])
        return AffineMap(self.widened(columns) + other.widened(columns), self.offset + other.offset)


@dataclass(frozen=True)
class LayerColumns:
    """Columns of one hidden layer for K copies, each (K, width), -1 where a neuron has none."""

    pre: np.ndarray  # pre-activation z of ReLUs that can switch
    post: np.ndarray  # output y of every neuron that is not always off
    binary: np.ndarray  # on/off binary a of ReLUs that can switch


@dataclass(frozen=True)
class NetworkEncoding:
    """Where K copies of a network live in the program; `fill` writes a forward pass into it."""

    network: FrozenNetwork
    hidden: tuple[LayerColumns, ...]
    outputs: np.ndarray  # (K, output_dim)

    def fill(self, values: np.ndarray, inputs: np.ndarray) -> np.ndarray:
        """Write every neuron's value for the given inputs (K, input_dim) into `values`; return outputs.

        Gives a full primal point for a warm start: pre-activations, post-activations, binaries.
        """
        hidden = inputs
        for layer, columns in zip(self.network.layers, self.hidden):
            pre = hidden @ layer.weight.T + layer.bias
            hidden = np.where(layer.relu, np.maximum(pre, 0.0), pre)
            for block, value in ((columns.pre, pre), (columns.post, hidden), (columns.binary, pre > 0)):
                present = block >= 0
                values[block[present]] = value[present]
        last = self.network.layers[-1]
        outputs = hidden @ last.weight.T + last.bias + inputs @ self.network.skip.T
        values[self.outputs] = outputs
        return outputs


def _bilinear_rows(builder: ProgramBuilder, terms: list[tuple[np.ndarray, np.ndarray]]) -> sp.csr_array:
    """Rows r = sum of coefficient * column over (columns, coefficients) pairs of equal shape, one row per entry."""
    rows = np.arange(terms[0][0].size)
    triplets = [(rows, columns.ravel(), np.broadcast_to(coefficients, columns.shape).ravel()) for columns, coefficients in terms]
    row, col, val = (np.concatenate(part) for part in zip(*triplets))
    return sp.csr_array((val, (row, col)), shape=(rows.size, builder.num_columns))


def _encode_hidden_layer(
    builder: ProgramBuilder, name: str, relu: np.ndarray, pre_map: AffineMap, low: np.ndarray, high: np.ndarray
) -> LayerColumns:
    """Columns and rows of one hidden layer for K copies, from its pre-activation map and bounds."""
    off = relu & (high <= 0)
    switching = relu & (low < 0) & (high > 0)
    linear = ~off & ~switching
    post = builder.add_columns(
        f"{name}_y", linear | switching, np.where(relu, np.maximum(low, 0.0), low), np.where(relu, np.maximum(high, 0.0), high)
    )
    pre = builder.add_columns(f"{name}_z", switching, low, high)
    binary = builder.add_columns(f"{name}_a", switching, 0.0, 1.0, integer=True)

    # Definitions: y = W h + b for linear neurons, z = W h + b for switching ones.
    defined = np.where(linear, post, pre)
    keep = np.flatnonzero(defined.ravel() >= 0)
    definitions = builder.selection(defined)[keep] - pre_map.widened(builder.num_columns)[keep]
    builder.add_rows(definitions, pre_map.offset.ravel()[keep], pre_map.offset.ravel()[keep])

    # Big-M rows of switching ReLUs: y - z >= 0,  y - z - l a <= -l,  y - u a <= 0.
    y, z, a = post[switching], pre[switching], binary[switching]
    l, u = low[switching], high[switching]
    builder.add_rows(_bilinear_rows(builder, [(y, 1.0), (z, -1.0)]), 0.0, np.inf)
    builder.add_rows(_bilinear_rows(builder, [(y, 1.0), (z, -1.0), (a, -l)]), -np.inf, -l)
    builder.add_rows(_bilinear_rows(builder, [(y, 1.0), (a, -u)]), -np.inf, 0.0)
    return LayerColumns(pre=pre, post=post, binary=binary)


def encode_network_copies(
    builder: ProgramBuilder,
    network: FrozenNetwork,
    inputs: AffineMap,
    bounds: NetworkBounds,
    name: str,
    output_columns: np.ndarray | None = None,
) -> NetworkEncoding:
    """Add K copies of `network` to the program; copy k reads `inputs` copy k.

    The outputs are tied to `output_columns` (K, output_dim) if given (an MLP's next states),
    else to new columns bounded by `bounds.output_low/high` (block `{name}_out`).
    Column blocks are named `{name}{layer}_y`, `_z`, `_a` for hidden layer 1, 2, ...
    """
    if inputs.dim != network.input_dim or bounds.copies != inputs.copies:
        raise ValueError("the inputs and bounds must hold one (input_dim) vector per network copy")
    hidden_map, layers = inputs, []
    for index, layer in enumerate(network.layers[:-1]):
        pre_map = hidden_map.then_affine(layer.weight, layer.bias, builder.num_columns)
        columns = _encode_hidden_layer(
            builder, f"{name}{index + 1}", layer.relu, pre_map, bounds.pre_low[index], bounds.pre_high[index]
        )
        layers.append(columns)
        hidden_map = AffineMap(builder.selection(columns.post), np.zeros(columns.post.shape))
    last = network.layers[-1]
    output_map = hidden_map.then_affine(last.weight, last.bias, builder.num_columns) + inputs.then_affine(
        network.skip, np.zeros(network.output_dim), builder.num_columns
    )
    if output_columns is None:
        output_columns = builder.add_columns(
            f"{name}_out", np.ones(output_map.offset.shape, dtype=bool), bounds.output_low, bounds.output_high
        )
    ties = builder.selection(output_columns) - output_map.widened(builder.num_columns)
    builder.add_rows(ties, output_map.offset.ravel(), output_map.offset.ravel())
    return NetworkEncoding(network, tuple(layers), output_columns)
