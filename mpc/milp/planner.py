"""The MILP planner: bounds, encoding and HiGHS branch-and-bound behind the common planner interface."""

from __future__ import annotations

import time

import numpy as np
import torch

from dynamics.frozen import FrozenGraph, FrozenNetwork, rollout
from mpc.errors import ProblemError
from mpc.milp.bounds.boxes import RolloutBounds
from mpc.milp.bounds.crown import linear_tightener
from mpc.milp.bounds.data_ranges import DATA_RANGE_MARGIN, data_range_extras, require_data_ranges  # noqa: F401
from mpc.milp.bounds.lp import lp_tightener
from mpc.milp.bounds.modes import BOUND_MODES, DEFAULT_BOUNDS  # noqa: F401 (re-exported)
from mpc.milp.bounds.rollout import rollout_bounds
from mpc.milp.cuts import CutRecord, tighten_with_cuts
from mpc.milp.highs import new_highs, presolve_pays, solve_program, unsolved
from mpc.milp.horizon import HorizonProgram, build_horizon_program
from mpc.milp.kinds import LP_MIN_BINARIES, model_kind  # noqa: F401 (LP_MIN_BINARIES: re-exported)
from mpc.milp.numerics import balanced, check_coefficients
from mpc.milp.program import FEASIBLE, MatrixProgram
from mpc.milp.scip import solve_program_scip
from mpc.problem import Plan, PlanningProblem, trajectory_cost

SOLVERS = ("highs", "scip")
CUT_SHARE = 0.5  # of the budget: ideal cuts (cut_rounds) stop separating after it
MIN_SOLVE_SHARE = 0.05  # of the budget: with less left after bounds and assembly, branch-and-bound is not started


class MILPPlanner:
    """Plans by solving the program of seam 4 to (near) global optimality on a frozen network or graph.

    bounds: "interval" (interval propagation clipped to the workspace box), "linear" (then
    back-substitution through the unrolled horizon) or "lp" (linear, then LP-based tightening of
    every ReLU still switching and of every state, step by step, for at most lp_budget times the
    problem's time limit; below LP_MIN_BINARIES binaries after interval bounds, "lp" skips the LPs,
    which then take longer than the whole solve, measured by examples/bench_milp.py). For a graph
    model, "linear" back-substitutes within each edge and node network copy, and "lp" adds LP
    tightening of the states. What each mode runs per model kind: mpc.milp.kinds.

    solver: "highs" (mpc.milp.highs) or "scip" (mpc.milp.scip, `pip install -e ".[scip]"` in the checkout), the
    branch-and-bound that solves the same program.

    cut_rounds: rounds of ideal single-neuron cuts (Anderson et al., 2020; mpc.milp.cuts) added to the
    program before branch-and-bound, each an LP relaxation solve, within CUT_SHARE of the budget; 0
    (default): none. They raise the relaxation's bound and never remove a plan.

    highs_options: further HiGHS options for branch-and-bound by name (mpc.milp.highs.new_highs), e.g.
    {"mip_heuristic_effort": 0.3}; None: HiGHS's defaults.

    data_ranges (off by default, not sound): also cut every step's neuron bounds to the pre-activation
    ranges the model took on its data, widened by DATA_RANGE_MARGIN (mpc.milp.bounds.data_ranges; the
    network must carry them: `sparsedyn record-ranges`). Fewer binaries and smaller big-M values, but the
    program then holds only plans whose neurons stay within those ranges and is not exact on the model
    outside them, so its optimum is no longer the model's optimum and its bound no proven bound. The plan is
    still the network's rollout of its actions; extras["outside_data_ranges"] counts the pre-activations of
    that rollout outside the widened ranges (0: the program was exact on the plan).
    """

    def __init__(
        self,
        network: FrozenNetwork | FrozenGraph,
        state_dim: int,
        action_dim: int,
        bounds: str = DEFAULT_BOUNDS,
        mip_gap: float = 1e-4,
        threads: int = 1,
        lp_budget: float = 0.25,
        solver: str = "highs",
        cut_rounds: int = 0,
        highs_options: dict | None = None,
        data_ranges: bool = False,
    ) -> None:
        if bounds not in BOUND_MODES:
            raise ProblemError(f"bounds must be one of {', '.join(BOUND_MODES)}, got {bounds!r}")
        if solver not in SOLVERS:
            raise ProblemError(f"solver must be one of {', '.join(SOLVERS)}, got {solver!r}")
        if network.input_dim != state_dim + action_dim or network.output_dim != state_dim:
            raise ProblemError(
                f"the network maps {network.input_dim} inputs to {network.output_dim} outputs; a dynamics model "
                f"for {state_dim} states and {action_dim} actions maps {state_dim + action_dim} to {state_dim}"
            )
        if data_ranges:
            require_data_ranges(network)
        self.network = balanced(network)  # the same function, its neurons rescaled exactly where badly scaled
        self.data_ranges = data_ranges
        self.state_dim, self.action_dim = state_dim, action_dim
        self.bounds, self.mip_gap, self.threads, self.lp_budget = bounds, mip_gap, threads, lp_budget
        self.solver = solver
        if cut_rounds < 0:
            raise ProblemError(f"cut_rounds must be 0 or more, got {cut_rounds}")
        self.cut_rounds, self.highs_options = int(cut_rounds), dict(highs_options or {})
        new_highs(options=self.highs_options)  # ProblemError now for an option HiGHS does not know

    def _check(self, problem: PlanningProblem) -> None:
        """ProblemError unless the problem is valid (again: a field may have changed in place) and fits the model."""
        problem.validate()
        if problem.state_dim != self.state_dim or problem.action_dim != self.action_dim:
            raise ProblemError(
                f"the problem has {problem.state_dim} states and {problem.action_dim} actions, "
                f"the model {self.state_dim} and {self.action_dim}"
            )

    def rollout_bounds(self, problem: PlanningProblem) -> RolloutBounds:
        """State and neuron bounds for the problem in the planner's bound mode (`ModelKind.modes`).

        Raises:
            InfeasibleError: no action sequence keeps the predicted states in the workspace box.
        """
        deadline = time.perf_counter() + self.lp_budget * problem.time_limit
        mode = model_kind(self.network).modes[self.bounds]
        names = mode.tighteners
        if mode.skip_lp_below:  # decided on the sound bounds, with data ranges too: the LPs then tighten as much
            interval = rollout_bounds(self.network, problem)
            if interval.network.binary_count(self.network) < mode.skip_lp_below:
                names = tuple(name for name in names if name != "lp")
        tighteners = {
            "linear": lambda: linear_tightener(self.network, problem),
            "lp": lambda: lp_tightener(self.network, problem, threads=self.threads, deadline=deadline),
        }
        return rollout_bounds(
            self.network, problem, mode.linear_steps, [tighteners[name]() for name in names], self.data_ranges
        )

    def build(self, problem: PlanningProblem) -> HorizonProgram:
        """The program the planner would solve (for inspection or a Pyomo export).

        Raises:
            ProblemError: the problem does not fit the model.
            InfeasibleError: no action sequence keeps the predicted states in the workspace box.
            NumericsError: the program's coefficients are out of HiGHS's reliable range (mpc.milp.numerics).
        """
        self._check(problem)
        horizon_program = build_horizon_program(self.network, problem, self.rollout_bounds(problem))
        check_coefficients(horizon_program.program, problem, self.bounds)
        return horizon_program

    def plan(self, problem: PlanningProblem) -> Plan:
        """Plan within problem.time_limit; raises InfeasibleError or NoIncumbentError if there is no plan, and
        NumericsError (before solving) if the program is out of HiGHS's reliable range (mpc.milp.numerics).

        Bounds and assembly count against the budget: HiGHS gets what is left of it, so the MILP is
        compared with the sampling planners at equal wall time; if less than MIN_SOLVE_SHARE of it is
        left, the start is returned unsolved (status "time_limit", bound 0: the cost is non-negative).

        HiGHS starts from problem.warm_start (clipped to the action box), or from the centre of the
        action box if there is none or the warm start's rollout breaks a constraint (`start_point`).

        The returned states are the network's rollout of the returned actions and the objective is
        their trajectory cost; extras hold the program's own objective, its size, its coefficient range and
        "data_ranges" (with them, "outside_data_ranges": see the class docstring).
        """
        began = time.perf_counter()
        self._check(problem)
        bounds = self.rollout_bounds(problem)
        bound_time = time.perf_counter() - began
        horizon_program = build_horizon_program(self.network, problem, bounds)
        program = horizon_program.program
        coefficients = check_coefficients(program, problem, self.bounds)
        program, cuts = self.with_cuts(horizon_program, began + CUT_SHARE * problem.time_limit)
        start = self.start_point(problem, horizon_program, program)
        build_time = time.perf_counter() - began

        solve_limit = problem.time_limit - build_time
        if solve_limit < MIN_SOLVE_SHARE * problem.time_limit:  # bounds and assembly took the budget: the start
            result = unsolved(program, start)
        elif self.solver == "scip":
            result = solve_program_scip(program, solve_limit, self.mip_gap, self.threads, start)
        else:
            result = solve_program(
                program, solve_limit, self.mip_gap, self.threads, start, presolve_pays(program), self.highs_options
            )
        actions, states, objective = self.replay(problem, program, result.values)
        return Plan(
            actions=actions,
            states=states,
            objective=objective,
            status=result.status,
            wall_time=time.perf_counter() - began,
            best_bound=result.best_bound,
            gap=result.gap,
            node_count=result.node_count,
            build_time=build_time,
            binaries=program.num_binaries,
            extras={
                "program_objective": result.objective,
                "bound_time": bound_time,
                "solve_time": result.solve_time,
                "columns": program.num_columns,
                "rows": program.num_rows,
                "bounds": self.bounds,
                "solver": self.solver,
                "coefficients": coefficients.record(),
                **({} if cuts is None else cuts.record()),
                **self.data_range_extras(states, actions),
            },
        )

    def start_point(
        self, problem: PlanningProblem, horizon_program: HorizonProgram, program: MatrixProgram
    ) -> np.ndarray:
        """HiGHS's start: the primal point (a forward pass) of problem.warm_start clipped to the action box, or of
        the centre of the action box where there is no warm start or its rollout breaks a row of `program` (the
        shifted previous plan can drift out of the workspace box: seen on the rope, where HiGHS then found no
        plan at all in the budget). The centre (usually standing still) is then offered if it keeps to the
        rows; if neither does, the warm start's point (HiGHS ignores it and searches from scratch).

        Shapes:
            -> (columns,).
        """
        centre = np.tile((problem.action_low + problem.action_high) / 2, (problem.horizon, 1))
        if problem.warm_start is None:
            return horizon_program.primal_point(centre)
        start = horizon_program.primal_point(np.clip(problem.warm_start, problem.action_low, problem.action_high))
        if program.violation(start) <= FEASIBLE:
            return start
        standing = horizon_program.primal_point(centre)
        return standing if program.violation(standing) <= FEASIBLE else start

    def with_cuts(self, horizon_program: HorizonProgram, deadline: float) -> tuple[MatrixProgram, CutRecord | None]:
        """The program with `cut_rounds` rounds of ideal cuts until `deadline` (time.perf_counter()), and their
        record; the program as it is (and None) when cut_rounds is 0."""
        if not self.cut_rounds:
            return horizon_program.program, None
        return tighten_with_cuts(
            horizon_program.program, horizon_program.dynamics, self.cut_rounds, deadline, self.threads
        )

    def data_range_extras(self, states: np.ndarray, actions: np.ndarray) -> dict:
        """{"data_ranges": False}, or with data ranges {"data_ranges": True, "outside_data_ranges": count of the
        plan's pre-activations outside the widened ranges} (mpc.milp.bounds.data_ranges)."""
        if not self.data_ranges:
            return {"data_ranges": False}
        return data_range_extras(self.network, states, actions)

    def replay(
        self, problem: PlanningProblem, program: MatrixProgram, values: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, float]:
        """The plan a program point stands for: its actions (clipped to the box: solver tolerances), their
        rollout on the network and its trajectory cost.

        Shapes:
            values (columns,) -> actions (H, m), states (H + 1, n), objective.
        """
        actions = np.clip(values[program.action_columns], problem.action_low, problem.action_high)
        states = rollout(self.network, problem.state, actions)
        objective = float(trajectory_cost(problem, torch.from_numpy(states[None]), torch.from_numpy(actions[None]))[0])
        return actions, states, objective
