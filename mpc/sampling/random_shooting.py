"""Random shooting on a torch dynamics model: uniform action sequences in the box, keep the best.

The warm start, if any, is evaluated first, so the plan is never worse than it.
"""

from __future__ import annotations

import torch

from mpc.problem import Plan, PlanningProblem
from mpc.sampling.base import BestSoFar, Budget, action_box, evaluate, initial_sequence


class RandomShootingPlanner:
    def __init__(self, model: torch.nn.Module, samples: int = 256, seed: int = 0, max_iterations: int | None = None) -> None:
        self.model = model
        self.samples = samples
        self.max_iterations = max_iterations
        self.generator = torch.Generator().manual_seed(seed)

    @torch.no_grad()
    def plan(self, problem: PlanningProblem) -> Plan:
        budget = Budget(problem.time_limit, self.max_iterations)
        low, high = action_box(problem)
        best = BestSoFar()
        first = initial_sequence(problem).unsqueeze(0)
        costs, states = evaluate(self.model, problem, first)
        best.update(costs, first, states)
        while budget.another():
            uniform = torch.rand((self.samples, problem.horizon, problem.action_dim), generator=self.generator)
            actions = low + uniform * (high - low)
            costs, states = evaluate(self.model, problem, actions)
            best.update(costs, actions, states)
        return best.plan(budget.started, budget.iterations)
