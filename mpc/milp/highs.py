"""Solve a MatrixProgram with HiGHS through highspy: the matrices go straight in, no modelling layer.

stdout holds a command's results only (`sparsedyn control ... > table.md`), but HiGHS writes its banner
("Running HiGHS <version> ... Copyright ...") to the process's standard output (file descriptor 1, from
C, past Python's sys.stdout) when the process makes its first Highs instance, whatever the instance's
options ("output_flag" comes too late): `new_highs` makes that first instance with descriptor 1 pointed
at the null device (`silence_highs_banner`).
"""

from __future__ import annotations

import ctypes
import os
import sys
import time
from dataclasses import dataclass

import highspy
import numpy as np

from mpc.errors import InfeasibleError, MPCError, NoIncumbentError, ProblemError
from mpc.milp.numerics import coefficient_range
from mpc.milp.program import FEASIBLE, MatrixProgram
from mpc.problem import OPTIMAL, STOPPED, TIME_LIMIT

_STATUS = {
    highspy.HighsModelStatus.kOptimal: OPTIMAL,
    highspy.HighsModelStatus.kTimeLimit: TIME_LIMIT,
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


_silenced = False


def silence_highs_banner() -> None:
    """Make the process's first HiGHS instance with stdout sent to the null device, so its banner is lost.

    `new_highs` calls it, so every instance the project makes is silent; later calls do nothing. Python's
    and C's buffered output is flushed before and after, so nothing else is lost.
    """
    global _silenced
    if _silenced:
        return
    sys.stdout.flush()
    saved = os.dup(1)
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        highspy.Highs()
        _flush_c_stdout()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(null)
    _silenced = True


def _flush_c_stdout() -> None:
    """fflush(NULL): C's stdout buffer may still hold the banner when stdout is a file or a pipe."""
    try:
        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError, TypeError):  # no C library to load by that name (e.g. Windows)
        pass


def new_highs(
    threads: int = 1, time_limit: float | None = None, mip_rel_gap: float | None = None, options: dict | None = None
) -> highspy.Highs:
    """A silent HiGHS instance with the given options; `options` are further HiGHS options by name
    (https://ergo-code.github.io/HiGHS/stable/options/definitions/), e.g. {"mip_heuristic_effort": 0.3}.

    Raises:
        ProblemError: HiGHS has no option of that name or refuses the value.
    """
    silence_highs_banner()
    highs = highspy.Highs()
    highs.setOptionValue("output_flag", False)
    highs.setOptionValue("threads", int(threads))
    if time_limit is not None:
        highs.setOptionValue("time_limit", float(time_limit))
    if mip_rel_gap is not None:
        highs.setOptionValue("mip_rel_gap", float(mip_rel_gap))
    for name, value in (options or {}).items():
        if highs.setOptionValue(name, value) == highspy.HighsStatus.kError:
            raise ProblemError(f"HiGHS has no option {name!r} taking the value {value!r}")
    return highs


# HiGHS's feasibility jump (Luteberget and Sartor, 2023), a heuristic for a first feasible point, runs before the
# root node and does not watch the time limit: 0.2-0.3 s on the rope graph's and the dense pushing model's
# programs, under limits of 0.08-0.3 s (examples/bench_planners.py, budget check). A feasible start makes it
# redundant; from an infeasible one (HiGHS ignores it) it stays on, to find a first plan.
START_OFF_OPTIONS = {"mip_heuristic_run_feasibility_jump": False}

PRESOLVE_MAX_BINARIES = 1000  # above: HiGHS's presolve, deaf to the time limit, took 2.4-3 s (dense pushing model)


def presolve_pays(program: MatrixProgram) -> bool:
    """Whether to let HiGHS presolve a time-limited program: not the large ones (PRESOLVE_MAX_BINARIES)."""
    return program.num_binaries <= PRESOLVE_MAX_BINARIES


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
        found = coefficient_range(program)
        raise MPCError(
            f"HiGHS rejected the program: matrix entries from {found.matrix_min:.1e} to {found.matrix_max:.1e}, "
            f"bounds up to {found.bound_max:.1e} (it refuses entries of 1e15 and more, see mpc.milp.numerics)"
        )


def _run(
    program: MatrixProgram,
    time_limit: float | None,
    mip_rel_gap: float,
    threads: int,
    start: np.ndarray | None,
    presolve: bool,
    options: dict | None,
) -> highspy.Highs:
    """One HiGHS run of the program from `start` (a full primal point) if given; from a feasible start, and
    unless `options` say otherwise, without HiGHS's feasibility jump (see START_OFF_OPTIONS)."""
    feasible_start = start is not None and program.violation(start) <= FEASIBLE
    highs = new_highs(
        threads, time_limit, mip_rel_gap, {**(START_OFF_OPTIONS if feasible_start else {}), **(options or {})}
    )
    if not presolve:
        highs.setOptionValue("presolve", "off")
    pass_program(highs, program)
    if start is not None:
        solution = highspy.HighsSolution()
        solution.col_value = np.asarray(start, dtype=np.float64)
        highs.setSolution(solution)
    highs.run()
    return highs


def unsolved(program: MatrixProgram, start: np.ndarray) -> SolveResult:
    """The result of a solve that did not run: the start as incumbent, bounded only by 0 (every program of
    this project minimises a non-negative cost).

    Raises:
        NoIncumbentError: the start breaks a row or a column bound.
    """
    if program.violation(start) > FEASIBLE:
        raise NoIncumbentError("no time was left to solve the program, and its start is not feasible")
    objective = program.objective(start)
    return SolveResult(
        values=start,
        objective=objective,
        best_bound=0.0,
        gap=1.0 if objective > 0 else 0.0,
        status=TIME_LIMIT,
        solve_time=0.0,
        node_count=0,
    )


def solve_program(
    program: MatrixProgram,
    time_limit: float | None = None,
    mip_rel_gap: float = 1e-4,
    threads: int = 1,
    start: np.ndarray | None = None,
    presolve: bool = True,
    options: dict | None = None,
) -> SolveResult:
    """Branch-and-bound with HiGHS; `start` is a full primal point offered as the first incumbent.

    presolve=False skips HiGHS's presolve, which does not watch the time limit: on a large program
    (the dense pushing model's, 2000 binaries) it took 2.6 s under a 0.1 s limit. `options`: further
    HiGHS options (`new_highs`).

    Raises InfeasibleError if the program has no feasible point and NoIncumbentError if a limit
    stopped the solver before it found one.
    """
    began = time.perf_counter()
    highs = _run(program, time_limit, mip_rel_gap, threads, start, presolve, options)
    values = np.asarray(highs.getSolution().col_value)
    if start is not None and highs.getInfo().primal_solution_status == highspy.kSolutionStatusFeasible:
        # HiGHS 1.16 can report the optimum found while handing back the start's values (seen when
        # presolve settles the program). Such a point is not what the objective says: solve again
        # without the start, in whatever time is left.
        reported = highs.getInfo().objective_function_value
        if abs(program.objective(values) - reported) > 1e-6 * (1.0 + abs(reported)):
            remaining = None if time_limit is None else max(time_limit - (time.perf_counter() - began), 0.01)
            highs = _run(program, remaining, mip_rel_gap, threads, None, presolve, options)
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
        status=_STATUS.get(model_status, STOPPED),
        solve_time=solve_time,
        node_count=int(info.mip_node_count) if program.num_binaries else 0,
    )
