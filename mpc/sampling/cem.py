"""Cross-entropy method (CEM) on a torch dynamics model.

Each iteration samples action sequences from an independent Gaussian per step and entry,
clipped to the action box, keeps the `elites` cheapest, and refits mean and standard deviation
to them (smoothed by `momentum`, floored at `min_std` of the box width). The plan is the
lowest-cost sequence evaluated.
"""

from __future__ import annotations

import torch

from mpc.problem import Plan, PlanningProblem
from mpc.sampling.base import BestSoFar, Budget, action_box, evaluate, initial_sequence


class CEMPlanner:
    def __init__(
        self,
        model: torch.nn.Module,
        samples: int = 256,
        elites: int = 32,
        initial_std: float = 0.5,
        min_std: float = 0.02,
        momentum: float = 0.1,
        seed: int = 0,
        max_iterations: int | None = None,
    ) -> None:
        """initial_std and min_std are fractions of the action box width."""
        self.model = model
        self.samples = samples
        self.elites = elites
        self.initial_std = initial_std
        self.min_std = min_std
        self.momentum = momentum
        self.max_iterations = max_iterations
        self.generator = torch.Generator().manual_seed(seed)

    @torch.no_grad()
    def plan(self, problem: PlanningProblem) -> Plan:
        budget = Budget(problem.time_limit, self.max_iterations)
        low, high = action_box(problem)
        width = high - low
        mean = initial_sequence(problem)
        std = (self.initial_std * width).expand_as(mean).clone()
        best = BestSoFar()
        while budget.another():
            noise = torch.randn((self.samples, *mean.shape), generator=self.generator)
            noise[0] = 0.0  # always evaluate the mean itself
            actions = torch.clamp(mean + noise * std, low, high)
            costs, states = evaluate(self.model, problem, actions)
            best.update(costs, actions, states)
            elite = actions[torch.topk(costs, self.elites, largest=False).indices]
            mean = self.momentum * mean + (1 - self.momentum) * elite.mean(dim=0)
            std = self.momentum * std + (1 - self.momentum) * elite.std(dim=0)
            std = torch.maximum(std, self.min_std * width)
        return best.plan(budget.started, budget.iterations)
