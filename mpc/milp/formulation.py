"""Mixed-integer formulation of a frozen network, for K copies at once.

A planner applies one network many times: an MLP dynamics model once per step, a graph model's
edge network once per edge per step. `encode_network_copies` adds all copies in one vectorised
call (block structure, a few numpy operations per layer), given each copy's input as an affine
map of existing columns and the pre-activation bounds of each copy.

Per hidden neuron, from its bounds l <= z <= u:

    identity, or ReLU with l >= 0   y = W h + b, substituted into     (no column, no row)
                                    the next layer's expressions
    ReLU with u <= 0                y = 0                             (no column, no row)
    ReLU with l < 0 < u             z = W h + b,  y >= z,  y >= 0,    (columns z, y, binary a)
                                    y <= z - l (1 - a),  y <= u a
    zero neuron                     not in the frozen network at all

Substituting the linear neurons keeps every row short: an expression only ever refers to the
copy's inputs and the switching ReLUs before it, however wide the identity layers are.

The output layer is affine and adds the explicit residual: out = W h + b + skip @ input.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dynamics.frozen import FrozenNetwork
from mpc.milp.bounds.boxes import NetworkBounds
from mpc.milp.program import ProgramBuilder, masked


@dataclass(frozen=True)
class AffineMap:
    """K vectors of d affine expressions of program columns, as numpy triplets.

    Expression i of copy k is offset[k, i] + sum of values[e] * v[columns[e]] over the entries e
    with rows[e] == k * d + i (repeated columns add up).
    """

    rows: np.ndarray
    columns: np.ndarray
    values: np.ndarray
    offset: np.ndarray  # (K, d)

    @property
    def copies(self) -> int:
        return self.offset.shape[0]

    @property
    def dim(self) -> int:
        return self.offset.shape[1]

    @staticmethod
    def of_columns(block: np.ndarray) -> AffineMap:
        """Expression (k, i) is column block[k, i], or 0 where the block has no column (-1)."""
        flat = block.reshape(-1)
        rows = np.flatnonzero(flat >= 0)
        return AffineMap(rows, flat[rows], np.ones(rows.size), np.zeros(block.shape))

    def then_affine(self, weight: np.ndarray, bias: np.ndarray) -> AffineMap:
        """weight @ (this map) + bias, copy by copy.

        Each copy's expressions only involve a few columns (its inputs and the switching ReLUs
        before it), so they are gathered into a dense (copies, d, columns per copy) block and
        multiplied by the weight in one batched product; repeated columns add up on the way.
        """
        copies, dim, out = self.copies, self.dim, weight.shape[0]
        # Number the distinct columns of each copy 0, 1, ... (slots), in one sort of (copy, column).
        stride = int(self.columns.max(initial=0)) + 1
        distinct, entry_key = np.unique(self.rows // dim * stride + self.columns, return_inverse=True)
        distinct_copy, distinct_column = np.divmod(distinct, stride)
        slot = np.arange(distinct.size) - np.searchsorted(distinct_copy, distinct_copy)
        width = int(slot.max(initial=-1)) + 1
        # dense[copy, index, slot] at flat position (row of the entry) * width + slot.
        dense = np.bincount(self.rows * width + slot[entry_key], weights=self.values, minlength=copies * dim * width)
        product = np.matmul(weight, dense.reshape(copies, dim, width)).reshape(-1)  # (copies, out, width), flat
        nonzero = np.flatnonzero(product)
        columns = np.zeros((copies, width), dtype=np.int64)
        columns[distinct_copy, slot] = distinct_column
        return AffineMap(
            nonzero // width,
            columns[nonzero // (out * width), nonzero % width],
            product[nonzero],
            self.offset @ weight.T + bias,
        )

    def restricted(self, keep: np.ndarray) -> AffineMap:
        """Expressions where `keep` (K, d) is True; the others become 0."""
        entries = keep.reshape(-1)[self.rows]
        offset = np.where(keep, self.offset, 0.0)
        return AffineMap(self.rows[entries], self.columns[entries], self.values[entries], offset)

    def __add__(self, other: AffineMap) -> AffineMap:
        return AffineMap(
            np.concatenate([self.rows, other.rows]),
            np.concatenate([self.columns, other.columns]),
            np.concatenate([self.values, other.values]),
            self.offset + other.offset,
        )

    def __neg__(self) -> AffineMap:
        return AffineMap(self.rows, self.columns, -self.values, -self.offset)

    def __sub__(self, other: AffineMap) -> AffineMap:
        return self + -other

    def constrain(self, builder: ProgramBuilder, lower, upper, where: np.ndarray | None = None) -> None:
        """Rows lower <= expression <= upper, one per expression where `where` (K, d) is True (all if None).

        lower and upper broadcast to (K, d).
        """
        where = np.ones(self.offset.shape, dtype=bool) if where is None else where
        flat = where.reshape(-1)
        row_of = np.cumsum(flat) - 1  # expression -> its row number among the constrained ones
        entries = flat[self.rows]
        offset = self.offset[where]
        builder.add_rows(
            offset.size,
            row_of[self.rows[entries]],
            self.columns[entries],
            self.values[entries],
            masked(lower, where) - offset,
            masked(upper, where) - offset,
        )

    def tie(self, builder: ProgramBuilder, targets: np.ndarray) -> None:
        """Equality rows column targets[k, i] = expression (k, i) wherever targets >= 0."""
        where = targets >= 0
        tied = np.flatnonzero(where)
        expression_minus_target = AffineMap(
            np.concatenate([self.rows, tied]),
            np.concatenate([self.columns, targets.reshape(-1)[tied]]),
            np.concatenate([self.values, np.full(tied.size, -1.0)]),
            self.offset,
        )
        expression_minus_target.constrain(builder, 0.0, 0.0, where)


@dataclass(frozen=True)
class LayerColumns:
    """Columns of one hidden layer for K copies, each (K, width), -1 where a neuron has none."""

    pre: np.ndarray  # pre-activation z of ReLUs that can switch
    post: np.ndarray  # output y of ReLUs that can switch
    binary: np.ndarray  # on/off binary a of ReLUs that can switch
    pre_map: AffineMap  # every neuron's pre-activation as an expression of earlier columns (for cuts)


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
        for layer, columns in zip(self.network.layers[:-1], self.hidden):
            pre = hidden @ layer.weight.T + layer.bias
            hidden = np.where(layer.relu, np.maximum(pre, 0.0), pre)
            for block, value in ((columns.pre, pre), (columns.post, hidden), (columns.binary, pre > 0)):
                present = block >= 0
                values[block[present]] = value[present]
        last = self.network.layers[-1]
        outputs = hidden @ last.weight.T + last.bias + inputs @ self.network.skip.T
        values[self.outputs] = outputs
        return outputs


def _encode_hidden_layer(
    builder: ProgramBuilder, name: str, relu: np.ndarray, pre_map: AffineMap, low: np.ndarray, high: np.ndarray
) -> tuple[LayerColumns, AffineMap]:
    """Columns and rows of one hidden layer for K copies; returns them and the layer's output map.

    Linear neurons (identity, always-on ReLU) get no column: their output is their pre-activation
    expression, substituted into the next layer. Switching ReLUs get z, y and a with big-M rows.
    """
    switching = relu & (low < 0) & (high > 0)
    linear = ~relu | (low >= 0)
    pre = builder.add_columns(f"{name}_z", switching, low, high)
    post = builder.add_columns(f"{name}_y", switching, 0.0, high)
    binary = builder.add_columns(f"{name}_a", switching, 0.0, 1.0, integer=True)
    pre_map.tie(builder, pre)

    # Big-M rows of switching ReLUs (L, U: the pre-activation bounds): y - z >= 0, y - z - L a <= -L, y - U a <= 0.
    y, z, a = post[switching], pre[switching], binary[switching]
    lower, upper = low[switching], high[switching]
    builder.add_sum_rows([(y, 1.0), (z, -1.0)], 0.0, np.inf)
    builder.add_sum_rows([(y, 1.0), (z, -1.0), (a, -lower)], -np.inf, -lower)
    builder.add_sum_rows([(y, 1.0), (a, -upper)], -np.inf, 0.0)
    output_map = pre_map.restricted(linear) + AffineMap.of_columns(post)
    return LayerColumns(pre=pre, post=post, binary=binary, pre_map=pre_map), output_map


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
        columns, hidden_map = _encode_hidden_layer(
            builder,
            f"{name}{index + 1}",
            layer.relu,
            hidden_map.then_affine(layer.weight, layer.bias),
            bounds.pre_low[index],
            bounds.pre_high[index],
        )
        layers.append(columns)
    last = network.layers[-1]
    output_map = hidden_map.then_affine(last.weight, last.bias) + inputs.then_affine(
        network.skip, np.zeros(network.output_dim)
    )
    if output_columns is None:
        output_columns = builder.add_columns(
            f"{name}_out", np.ones(output_map.offset.shape, dtype=bool), bounds.output_low, bounds.output_high
        )
    output_map.tie(builder, output_columns)
    return NetworkEncoding(network, tuple(layers), output_columns)
