"""The same program as a Pyomo model, for users who want to add constraints or use another solver.

Every column block becomes one indexed variable named after it: x[t, i] (states, t = 0..H),
u[t, j] (actions), then the network's neurons (f1_y, f1_z, f1_a, ... per hidden layer, indexed
by step and neuron) and the cost auxiliaries (state_error, action_size). The rows become one
indexed constraint `rows`, the cost the objective `cost`. Pyomo builds one object per term, so
this is much slower than the fast path; it is meant for modelling, not for the control loop.
"""

from __future__ import annotations

import numpy as np
import pyomo.environ as pyo
from pyomo.core.expr.numeric_expr import LinearExpression

from mpc.milp.program import MatrixProgram


def _bound(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def to_pyomo(program: MatrixProgram) -> pyo.ConcreteModel:
    """A ConcreteModel with named variables, one constraint per row and the linear cost."""
    model = pyo.ConcreteModel()
    variables = np.empty(program.num_columns, dtype=object)
    for name, block in program.blocks.items():
        positions = np.argwhere(block >= 0)
        columns = block[tuple(positions.T)]
        index = [tuple(position) if len(position) > 1 else position[0] for position in positions.tolist()]
        integer = bool(program.integrality[columns].all()) if columns.size else False
        binary = integer and np.all(program.col_lower[columns] >= 0) and np.all(program.col_upper[columns] <= 1)
        domain = pyo.Binary if binary else pyo.Integers if integer else pyo.Reals
        variable = pyo.Var(index, domain=domain, dense=True)
        model.add_component(name, variable)
        for key, column in zip(index, columns.tolist()):
            variable[key].setlb(_bound(program.col_lower[column]))
            variable[key].setub(_bound(program.col_upper[column]))
            variables[column] = variable[key]

    matrix = program.matrix

    def row_rule(model: pyo.ConcreteModel, row: int):
        entries = slice(matrix.indptr[row], matrix.indptr[row + 1])
        expression = LinearExpression(
            constant=0.0,
            linear_coefs=matrix.data[entries].tolist(),
            linear_vars=variables[matrix.indices[entries]].tolist(),
        )
        lower, upper = program.row_lower[row], program.row_upper[row]
        if lower == upper:
            return expression == float(lower)
        return (_bound(lower), expression, _bound(upper))

    model.rows = pyo.Constraint(range(program.num_rows), rule=row_rule)
    costed = np.flatnonzero(program.cost)
    model.cost = pyo.Objective(
        expr=LinearExpression(
            constant=0.0, linear_coefs=program.cost[costed].tolist(), linear_vars=variables[costed].tolist()
        ),
        sense=pyo.minimize,
    )
    return model
