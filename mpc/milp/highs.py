"""Solve a MatrixProgram with HiGHS through highspy: the matrices go straight in, no modelling layer."""

from __future__ import annotations

import time
from dataclasses import dataclass

import highspy
import numpy as np

from mpc.errors import InfeasibleError, MPCError, NoIncumbentError
from mpc.milp.program import MatrixProgram

_STATUS = {
    highspy.HighsModelStatus.kOptimal: "optimal",
    highspy.HighsModelStatus.kTimeLimit: "time_limit",
}
_INFEASIBLE = (highspy.HighsModelStatus.kInfeasible, highspy.HighsModelStatus.kUnboundedOrInfeasible)


@dataclass(frozen=True)
class SolveResult:
    """Best point found and what the solver knows about it."""

    values: np.ndarray
    objective: float
    best_bound: float
    gap: float
    status: str  # "optimal", "time_limit" (incumbent with its gap) or "stopped" (another limit)
    solve_time: float
    node_count: int


def new_highs(threads: int = 1, time_limit: float | None = None, mip_rel_gap: float | None = None) -> highspy.Highs:
    """A silent HiGHS instance with the given options."""
    highs = highspy.Highs()
    highs.setOptionValue("output_flag", False)
    highs.setOptionValue("threads", int(threads))
    if time_limit is not None:
        highs.setOptionValue("time_limit", float(time_limit))
    if mip_rel_gap is not None:
        highs.setOptionValue("mip_rel_gap", float(mip_rel_gap))
    return highs


def pass_program(highs: highspy.Highs, program: MatrixProgram, relax: bool = False) -> None:
    """Hand the program to HiGHS as row-wise arrays; `relax` drops integrality (LP relaxation)."""
    matrix = program.matrix
    integrality = np.zeros(program.num_columns, dtype=np.int32) if relax else program.integrality.astype(np.int32)
    status = highs.passModel(
        program.num_columns,
        program.num_rows,
        matrix.nnz,
        int(highspy.MatrixFormat.kRowwise),
        int(highspy.ObjSense.kMinimize),
        0.0,
        program.cost,
        program.col_lower,
        program.col_upper,
        program.row_lower,
        program.row_upper,
        matrix.indptr.astype(np.int32),
        matrix.indices.astype(np.int32),
        matrix.data,
        integrality,
    )
    if status == highspy.HighsStatus.kError:
        raise MPCError("HiGHS rejected the program")


def _run(program: MatrixProgram, time_limit: float | None, mip_rel_gap: float, threads: int,
         start: np.ndarray | None) -> highspy.Highs:
    """One HiGHS run of the program from `start` (a full primal point) if given."""
    highs = new_highs(threads, time_limit, mip_rel_gap)
    pass_program(highs, program)
    if start is not None:
        solution = highspy.HighsSolution()
        solution.col_value = np.asarray(start, dtype=np.float64)
        highs.setSolution(solution)
    highs.run()
    return highs


def solve_program(
    program: MatrixProgram,
    time_limit: float | None = None,
    mip_rel_gap: float = 1e-4,
    threads: int = 1,
    start: np.ndarray | None = None,
) -> SolveResult:
    """Branch-and-bound with HiGHS; `start` is a full primal point offered as the first incumbent.

    Raises InfeasibleError if the program has no feasible point and NoIncumbentError if a limit
    stopped the solver before it found one.
    """
    began = time.perf_counter()
    highs = _run(program, time_limit, mip_rel_gap, threads, start)
    values = np.asarray(highs.getSolution().col_value)
    if start is not None and highs.getInfo().primal_solution_status == highspy.kSolutionStatusFeasible:
        # HiGHS 1.16 can report the optimum found while handing back the start's values (seen when
        # presolve settles the program). Such a point is not what the objective says: solve again
        # without the start, in whatever time is left.
        reported = highs.getInfo().objective_function_value
        if abs(program.objective(values) - reported) > 1e-6 * (1.0 + abs(reported)):
            remaining = None if time_limit is None else max(time_limit - (time.perf_counter() - began), 0.01)
            highs = _run(program, remaining, mip_rel_gap, threads, None)
            values = np.asarray(highs.getSolution().col_value)
    solve_time = time.perf_counter() - began

    model_status = highs.getModelStatus()
    info = highs.getInfo()
    if model_status in _INFEASIBLE:
        raise InfeasibleError("the planning program is infeasible (check the state constraints and workspace box)")
    if info.primal_solution_status != highspy.kSolutionStatusFeasible:
        raise NoIncumbentError(
            f"HiGHS stopped ({highs.modelStatusToString(model_status)}) after {solve_time:.2f} s "
            "without a feasible plan"
        )
    return SolveResult(
        values=values,
        objective=info.objective_function_value,
        best_bound=info.mip_dual_bound if program.num_binaries else info.objective_function_value,
        gap=info.mip_gap if program.num_binaries else 0.0,
        status=_STATUS.get(model_status, "stopped"),
        solve_time=solve_time,
        node_count=int(info.mip_node_count) if program.num_binaries else 0,
    )
