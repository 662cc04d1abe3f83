"""Receding-horizon control: plan over H steps, apply the first action, observe, replan.

The previous plan shifted by one step (its last action repeated) warm-starts the next solve; on
the first step of an episode the fallback planner (a cheap sampling plan) provides the warm
start, within the step's budget (the planner gets the time left). A planner that fails (no
incumbent in time, infeasible, numerical trouble) never stops the loop: the controller falls back
to the warm start and records that it did.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import numpy as np

from mpc.errors import MPCError
from mpc.problem import FALLBACK, Plan, PlanningProblem, Task

MIN_PLANNING_TIME = 1e-3  # seconds a planner gets at least, where the warm start took the whole budget


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
    predicted_collision: bool | None = None  # with obstacles: the plan takes a point past its hard limit

    def as_dict(self) -> dict:
        return dict(self.__dict__)


class RecedingHorizonController:
    """Wraps any planner with plan(PlanningProblem) -> Plan into a closed-loop policy.

    Args:
        planner: plans the task at every step (a MILP or sampling planner, or anything with `plan`).
        task: what to plan for at every step: horizon, action box, cost, constraints, workspace box,
            time limit (mpc.problem.Task; mpc.control.task.control_task builds the one of an env).
        fallback_planner: a cheap planner that warm-starts the first step of an episode (and so
            becomes the fallback if the planner fails there), inside the step's time limit: the planner
            gets what it leaves (at least MIN_PLANNING_TIME); None: no warm start on the first step.

    Shapes:
        act: state (n,), goal (k,) in the task's cost-feature order -> action (nu,) inside the action box.
    """

    def __init__(self, planner, task: Task, fallback_planner=None) -> None:
        self.planner = planner
        self.task = task
        self.fallback_planner = fallback_planner
        self.previous: Plan | None = None

    def reset(self) -> None:
        """Forget the previous plan (call at the start of every episode)."""
        self.previous = None

    def problem(self, state: np.ndarray, goal: np.ndarray) -> PlanningProblem:
        """The task from `state` toward `goal`, warm-started by the previous plan shifted (if any).

        Raises:
            ProblemError: the task, state or goal is malformed.
        """
        return self.task.problem(state, goal, self.shifted_previous_actions())

    def with_warm_start(self, problem: PlanningProblem) -> PlanningProblem:
        """The problem with a warm start from the fallback planner if it has none yet (and the fallback
        planner finds a plan: its MPCError leaves the problem without one)."""
        if problem.warm_start is None and self.fallback_planner is not None:
            try:
                return dataclasses.replace(problem, warm_start=self.fallback_planner.plan(problem).actions)
            except MPCError:
                pass
        return problem

    def shifted_previous_actions(self) -> np.ndarray | None:
        """The previous plan moved one step on, its last action repeated, clipped to the box."""
        if self.previous is None:
            return None
        actions = np.concatenate([self.previous.actions[1:], self.previous.actions[-1:]])
        return np.clip(actions, self.task.action_low, self.task.action_high)

    def act(self, state: np.ndarray, goal: np.ndarray) -> tuple[np.ndarray, StepRecord]:
        """Plan from `state` toward `goal` and return the first action with a record of the step.

        A planner's MPCError (no incumbent in time, infeasible, ...) does not escape: the step falls
        back (see fall_back) and its record says so. With obstacles, the record says whether the plan's
        predicted states take a point past its hard limit (PlanningProblem.predicts_collision; None for a
        fallback, which predicts nothing).

        Raises:
            ProblemError: the problem itself is malformed (from `problem`, before any planner runs).
        """
        started = time.perf_counter()
        problem = self.with_warm_start(self.problem(state, goal))
        # The step's budget holds all of the step, the first step's warm start too: the planner gets what is left.
        left = problem.time_limit - (time.perf_counter() - started)
        problem = dataclasses.replace(problem, time_limit=max(left, MIN_PLANNING_TIME))
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
            predicted_collision=problem.predicts_collision(plan.states) if problem.obstacles and not fallback else None,
        )
        return np.clip(plan.actions[0], self.task.action_low, self.task.action_high), record

    def fall_back(self, problem: PlanningProblem, error: MPCError) -> Plan:
        """The warm start (clipped to the action box) if there is one, else the centre of the box, with
        status "fallback (<error>)"."""
        if problem.warm_start is not None:
            actions = np.clip(problem.warm_start, problem.action_low, problem.action_high)
        else:
            actions = np.tile((problem.action_low + problem.action_high) / 2, (problem.horizon, 1))
        return Plan(
            actions=actions,
            states=np.full((problem.horizon + 1, problem.state_dim), np.nan),
            objective=float("nan"),
            status=f"{FALLBACK} ({error.__class__.__name__})",
            wall_time=0.0,
        )
