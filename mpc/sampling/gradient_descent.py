"""Gradient descent on the action sequence (Adam through the torch dynamics model).

A batch of `starts` sequences (the warm start or box centre, plus uniform random ones) is
optimised together; after every Adam step the sequences are projected back into the action
box. The plan is the lowest-cost sequence evaluated.
"""

from __future__ import annotations

import torch

from mpc.problem import Plan, PlanningProblem
from mpc.sampling.base import BestSoFar, Budget, action_box, evaluate, initial_sequence


class GradientDescentPlanner:
    def __init__(
        self,
        model: torch.nn.Module,
        starts: int = 16,
        learning_rate: float = 0.05,
        seed: int = 0,
        max_iterations: int | None = None,
    ) -> None:
        """learning_rate is a fraction of the action box width per step."""
        self.model = model
        self.starts = starts
        self.learning_rate = learning_rate
        self.max_iterations = max_iterations
        self.generator = torch.Generator().manual_seed(seed)

    def plan(self, problem: PlanningProblem) -> Plan:
        budget = Budget(problem.time_limit, self.max_iterations)
        low, high = action_box(problem)
        width = high - low
        uniform = torch.rand((self.starts, problem.horizon, problem.action_dim), generator=self.generator)
        actions = low + uniform * width
        actions[0] = initial_sequence(problem)
        # Optimise in box-normalised coordinates so one learning rate fits every action scale.
        scaled = ((actions - low) / width).requires_grad_(True)
        optimizer = torch.optim.Adam([scaled], lr=self.learning_rate)
        best = BestSoFar()
        while budget.another():
            costs, states = evaluate(self.model, problem, low + scaled * width)
            best.update(costs.detach(), (low + scaled * width).detach(), states.detach())
            # Differentiate with respect to the actions only: the model's weights stay untouched.
            (scaled.grad,) = torch.autograd.grad(costs.sum(), scaled)
            optimizer.step()
            with torch.no_grad():
                scaled.clamp_(0.0, 1.0)
        return best.plan(budget.started, budget.iterations)
