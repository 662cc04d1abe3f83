"""Model predictive path integral control (MPPI) on a torch dynamics model.

Each iteration perturbs the current mean action sequence with Gaussian noise, rolls all
samples out in one batch, and moves the mean to the softmin-weighted average of the samples
(temperature `temperature`, in cost units). Samples are clipped to the action box. The plan is
the lowest-cost sequence evaluated, so a good warm start is never lost.
"""

from __future__ import annotations

import torch

from mpc.problem import Plan, PlanningProblem
from mpc.sampling.base import BestSoFar, Budget, action_box, evaluate, initial_sequence


class MPPIPlanner:
    def __init__(
        self,
        model: torch.nn.Module,
        samples: int = 256,
        noise_scale: float = 0.5,
        temperature: float = 0.1,
        seed: int = 0,
        max_iterations: int | None = None,
    ) -> None:
        """noise_scale is the noise standard deviation as a fraction of the action box width."""
        self.model = model
        self.samples = samples
        self.noise_scale = noise_scale
        self.temperature = temperature
        self.max_iterations = max_iterations
        self.generator = torch.Generator().manual_seed(seed)

    @torch.no_grad()
    def plan(self, problem: PlanningProblem) -> Plan:
        budget = Budget(problem.time_limit, self.max_iterations)
        low, high = action_box(problem)
        sigma = self.noise_scale * (high - low)
        mean = initial_sequence(problem)
        best = BestSoFar()
        while budget.another():
            noise = torch.randn((self.samples, *mean.shape), generator=self.generator) * sigma
            noise[0] = 0.0  # always evaluate the mean itself
            actions = torch.clamp(mean + noise, low, high)
            costs, states = evaluate(self.model, problem, actions)
            best.update(costs, actions, states)
            weights = torch.softmax(-(costs - costs.min()) / self.temperature, dim=0)
            mean = torch.einsum("b,bhm->hm", weights, actions)
        return best.plan(budget.started, budget.iterations)
