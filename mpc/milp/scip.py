"""Solve a MatrixProgram with SCIP (pyscipopt), the optional second backend of the exact MILP planner.

The same program as HiGHS gets (seam 4), row by row: one SCIP variable per column (binary where the
column is integral with bounds 0 and 1), one linear constraint per row, the linear cost. SCIP's own
branch-and-bound, cuts and primal heuristics then work on it; `solve_program_scip` returns the same
`SolveResult` as `mpc.milp.highs.solve_program`, so `MILPPlanner(solver="scip")` is a drop-in
(`pip install -e ".[scip]"` in the checkout). Building the model costs a Python call per column and row: a few
tens of milliseconds for the pushing programs, charged to the planner's budget like everything else.
"""

from __future__ import annotations

import time

import numpy as np

from mpc.errors import InfeasibleError, MPCError, NoIncumbentError
from mpc.milp.highs import SolveResult
from mpc.milp.program import MatrixProgram
from mpc.problem import OPTIMAL, STOPPED, TIME_LIMIT

_STATUS = {"optimal": OPTIMAL, "gaplimit": OPTIMAL, "timelimit": TIME_LIMIT}


def _bound(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def solve_program_scip(
    program: MatrixProgram,
    time_limit: float | None = None,
    mip_rel_gap: float = 1e-4,
    threads: int = 1,
    start: np.ndarray | None = None,
) -> SolveResult:
    """Branch-and-bound with SCIP; `start` is a full primal point offered as the first incumbent.

    Args:
        program: the matrix program.
        time_limit: seconds for SCIP (the model is built first, outside it); None: no limit.
        mip_rel_gap: SCIP's relative gap limit ("limits/gap").
        threads: ignored: SCIP solves on one thread.
        start: (columns,) a feasible point, or None.

    Raises:
        MPCError: pyscipopt is not installed.
        InfeasibleError: the program has no feasible point.
        NoIncumbentError: a limit stopped SCIP before it found one.
    """
    try:
        import pyscipopt
    except ImportError as error:
        raise MPCError('the SCIP backend needs pyscipopt: pip install -e ".[scip]" in the checkout') from error
    began = time.perf_counter()
    model = pyscipopt.Model()
    model.hideOutput()
    if time_limit is not None:
        model.setParam("limits/time", max(float(time_limit), 1e-3))
    model.setParam("limits/gap", float(mip_rel_gap))
    binary = program.integrality & (program.col_lower >= 0) & (program.col_upper <= 1)
    variables = [
        model.addVar(
            lb=_bound(low), ub=_bound(high), obj=float(cost), vtype="B" if is_binary else "I" if integer else "C"
        )
        for low, high, cost, integer, is_binary in zip(
            program.col_lower, program.col_upper, program.cost, program.integrality, binary
        )
    ]
    matrix = program.matrix
    for row in range(program.num_rows):
        entries = slice(matrix.indptr[row], matrix.indptr[row + 1])
        expression = pyscipopt.quicksum(
            value * variables[column]
            for column, value in zip(matrix.indices[entries].tolist(), matrix.data[entries].tolist())
        )
        lower, upper = program.row_lower[row], program.row_upper[row]
        if lower == upper:
            model.addCons(expression == float(lower))
            continue
        if np.isfinite(lower):
            model.addCons(expression >= float(lower))
        if np.isfinite(upper):
            model.addCons(expression <= float(upper))
    if start is not None:
        solution = model.createSol()
        for variable, value in zip(variables, np.asarray(start, dtype=np.float64).tolist()):
            model.setSolVal(solution, variable, value)
        model.addSol(solution, free=True)
    model.optimize()
    solve_time = time.perf_counter() - began
    status = model.getStatus()
    if status in ("infeasible", "inforunbd"):
        raise InfeasibleError("the planning program is infeasible (check the state constraints and workspace box)")
    if model.getNSols() == 0:
        raise NoIncumbentError(f"SCIP stopped ({status}) after {solve_time:.2f} s without a feasible plan")
    best = model.getBestSol()
    values = np.array([model.getSolVal(best, variable) for variable in variables])
    objective = float(model.getSolObjVal(best))
    bound = float(model.getDualbound())
    return SolveResult(
        values=values,
        objective=objective,
        best_bound=bound,
        gap=abs(objective - bound) / max(abs(objective), 1e-9),
        status=_STATUS.get(status, STOPPED),
        solve_time=solve_time,
        node_count=int(model.getNNodes()),
    )
