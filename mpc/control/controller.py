"""Receding-horizon control: plan over H steps, apply the first action, observe, replan.

The previous plan shifted by one step (its last action repeated) warm-starts the next solve; on
the first step of an episode the fallback planner (a cheap sampling plan) provides the warm
start. A planner that fails (no incumbent in time, infeasible, numerical trouble) never stops
the loop: the controller falls back to the warm start and records that it did.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from mpc.errors import MPCError
from mpc.problem import Plan, PlanningProblem


@dataclass
class CostWeights:
    """L1 weights on the distance of the cost features to the goal, plus an L1 action penalty.

    matrix maps a state to the cost features (None: the state itself), see PlanningProblem.
    """

    state: np.ndarray
    terminal: np.ndarray
    action: float = 0.0
    matrix: np.ndarray | None = None


@dataclass
class StepRecord:
    """What happened at one control step, for the results file."""

    planning_time: float
    objective: float
    gap: float | None
    status: str
    fallback: bool
    binaries: int | None = None
    node_count: int | None = None
    sampled_objective: float | None = None  # a sampling-warm-started MILP: the sampled plan's objective

    def as_dict(self) -> dict:
        return dict(self.__dict__)


class RecedingHorizonController:
    """Wraps any planner with plan(PlanningProblem) -> Plan into a closed-loop policy."""

    def __init__(
        self,
        planner,
        horizon: int,
        action_low: np.ndarray,
        action_high: np.ndarray,
        weights: CostWeights,
        time_limit: float,
        workspace_low: np.ndarray | None = None,
        workspace_high: np.ndarray | None = None,
        state_constraints: tuple[np.ndarray, np.ndarray] | None = None,
        fallback_planner=None,
    ) -> None:
        self.planner = planner
        self.fallback_planner = fallback_planner
        self.horizon = horizon
        self.action_low = np.asarray(action_low, dtype=np.float64)
        self.action_high = np.asarray(action_high, dtype=np.float64)
        self.weights = weights
        self.time_limit = time_limit
        self.workspace_low = workspace_low
        self.workspace_high = workspace_high
        self.state_constraints = state_constraints
        self.previous: Plan | None = None

    def reset(self) -> None:
        """Forget the previous plan (call at the start of every episode)."""
        self.previous = None

    def problem(self, state: np.ndarray, goal: np.ndarray) -> PlanningProblem:
        return PlanningProblem(
            state=state,
            goal=goal,
            horizon=self.horizon,
            action_low=self.action_low,
            action_high=self.action_high,
            state_weights=self.weights.state,
            terminal_weights=self.weights.terminal,
            action_weight=self.weights.action,
            cost_matrix=self.weights.matrix,
            state_constraints=self.state_constraints,
            workspace_low=self.workspace_low,
            workspace_high=self.workspace_high,
            time_limit=self.time_limit,
            warm_start=self.shifted_previous_actions(),
        )

    def with_warm_start(self, problem: PlanningProblem) -> PlanningProblem:
        """The problem with a warm start from the fallback planner if it has none yet."""
        if problem.warm_start is None and self.fallback_planner is not None:
            problem.warm_start = self.fallback_planner.plan(problem).actions
        return problem

    def shifted_previous_actions(self) -> np.ndarray | None:
        """The previous plan moved one step on, its last action repeated, clipped to the box."""
        if self.previous is None:
            return None
        actions = np.concatenate([self.previous.actions[1:], self.previous.actions[-1:]])
        return np.clip(actions, self.action_low, self.action_high)

    def act(self, state: np.ndarray, goal: np.ndarray) -> tuple[np.ndarray, StepRecord]:
        """Plan from `state` toward `goal` and return the first action with a record of the step."""
        started = time.perf_counter()
        problem = self.with_warm_start(self.problem(state, goal))
        try:
            plan = self.planner.plan(problem)
            fallback = False
        except MPCError as error:
            plan = self.fall_back(problem, error)
            fallback = True
        self.previous = plan
        record = StepRecord(
            planning_time=time.perf_counter() - started,
            objective=float(plan.objective),
            gap=plan.gap,
            status=plan.status,
            fallback=fallback,
            binaries=plan.binaries,
            node_count=plan.node_count,
            sampled_objective=plan.extras.get("sampled_objective"),
        )
        return np.clip(plan.actions[0], self.action_low, self.action_high), record

    def fall_back(self, problem: PlanningProblem, error: MPCError) -> Plan:
        """The warm start if there is one, else the centre of the action box."""
        if problem.warm_start is not None:
            actions = problem.warm_start
        else:
            actions = np.tile((problem.action_low + problem.action_high) / 2, (problem.horizon, 1))
        return Plan(
            actions=actions,
            states=np.full((problem.horizon + 1, problem.state_dim), np.nan),
            objective=float("nan"),
            status=f"fallback ({error.__class__.__name__})",
            wall_time=0.0,
        )
