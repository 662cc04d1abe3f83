"""Batched open-loop rollouts of a torch dynamics model, and the plan record built from them.

Shared by every sampling planner so the cost of a candidate sequence is computed one way only.
"""

from __future__ import annotations

import time

import torch

from dynamics.evaluate import rollout
from mpc.problem import Plan, PlanningProblem, trajectory_cost


def evaluate(model: torch.nn.Module, problem: PlanningProblem, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Costs (B,) and predicted states (B, H+1, n) of a batch of action sequences (B, H, m)."""
    state = torch.as_tensor(problem.state, dtype=actions.dtype)
    states = rollout(model, state, actions)
    return trajectory_cost(problem, states, actions), states


def action_box(problem: PlanningProblem, dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """The action box as tensors broadcastable over (B, H, m)."""
    return (torch.as_tensor(problem.action_low, dtype=dtype), torch.as_tensor(problem.action_high, dtype=dtype))


def initial_sequence(problem: PlanningProblem, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The warm start if the problem has one, else the centre of the action box, shape (H, m)."""
    if problem.warm_start is not None:
        return torch.as_tensor(problem.warm_start, dtype=dtype)
    low, high = action_box(problem, dtype)
    return ((low + high) / 2).expand(problem.horizon, -1).clone()


class BestSoFar:
    """Keeps the lowest-cost action sequence a planner has evaluated, and builds its Plan."""

    def __init__(self) -> None:
        self.cost = float("inf")
        self.actions: torch.Tensor | None = None
        self.states: torch.Tensor | None = None
        self.evaluated = 0

    def update(self, costs: torch.Tensor, actions: torch.Tensor, states: torch.Tensor) -> None:
        self.evaluated += costs.shape[0]
        best = int(torch.argmin(costs))
        if float(costs[best]) < self.cost:
            self.cost = float(costs[best])
            self.actions = actions[best].detach().clone()
            self.states = states[best].detach().clone()

    def plan(self, started: float, iterations: int) -> Plan:
        return Plan(
            actions=self.actions.double().numpy(),
            states=self.states.double().numpy(),
            objective=self.cost,
            status="budget",
            wall_time=time.perf_counter() - started,
            extras={"iterations": iterations, "sequences_evaluated": self.evaluated},
        )


class Budget:
    """Wall-clock budget for an iterative planner: stop before an iteration would overrun it."""

    def __init__(self, seconds: float, max_iterations: int | None) -> None:
        self.started = time.perf_counter()
        self.deadline = self.started + seconds
        self.max_iterations = max_iterations
        self.iterations = 0
        self.slowest = 0.0
        self._last = self.started

    def another(self) -> bool:
        """True while one more iteration fits; the first iteration always runs."""
        now = time.perf_counter()
        if self.iterations:
            self.slowest = max(self.slowest, now - self._last)
        self._last = now
        if self.max_iterations is not None and self.iterations >= self.max_iterations:
            return False
        if self.iterations and now + self.slowest > self.deadline:
            return False
        self.iterations += 1
        return True

