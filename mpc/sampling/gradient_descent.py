"""Gradient descent on the action sequence (Adam through the torch dynamics model).

A batch of `starts` sequences (the warm start or box centre, plus uniform random ones) is
optimised together; after every Adam step the sequences are projected back into the action
box. The plan is the lowest-cost sequence evaluated; its elites (for a local optimiser such as
mpc.milp.anytime) are the cheapest point of each sequence's path, one per start, so that they
lie in as many basins as the starts reached (the cheapest sequences evaluated would mostly be
neighbouring points of one path).
"""

from __future__ import annotations

import torch

from mpc.problem import Plan, PlanningProblem
from mpc.sampling.base import SamplingPlanner
from mpc.sampling.defaults import DEFAULT_STARTS


class GradientDescentPlanner(SamplingPlanner):
    """Adam on K action sequences at once, through the model, projected onto the action box.

    The sequences are optimised in box-normalised coordinates (0 at action_low, 1 at action_high; 0 for
    an entry whose box has zero width) so one learning rate fits every action scale; every iteration
    evaluates all K (one Adam step). Sequences with a non-finite cost get no gradient.

    Args:
        model: the torch dynamics model (see SamplingPlanner); it must be differentiable. Its
            weights are left untouched: gradients are taken with respect to the actions only.
        starts: K, sequences optimised together: the warm start or box centre, and K - 1 uniform
            in the box; None (default): by device, DEFAULT_STARTS (16 on the CPU, 256 on a GPU).
        learning_rate: Adam's step size, as a fraction of the action box width per step.
        **options: seed, max_iterations (Adam steps), device: see SamplingPlanner; elites: E, how
            many of the K paths' cheapest points the plan hands back in extras["elites"] (min(E, K),
            cheapest first; 0, the default: none).

    Shapes:
        the optimised sequences (K, T, nu), in [0, 1] per entry.
    """

    differentiable = True
    default_samples = DEFAULT_STARTS

    def __init__(
        self, model: torch.nn.Module, *, starts: int | None = None, learning_rate: float = 0.05, **options
    ) -> None:
        super().__init__(model, samples=starts, **options)
        self.learning_rate = learning_rate

    def begin(self) -> None:
        actions = self.uniform(self.samples)
        actions[0] = self.initial_sequence()
        scale = torch.where(self.width > 0, self.width, 1.0)  # a zero-width entry stays at action_low
        self.scaled = ((actions - self.low) / scale).requires_grad_(True)
        self.optimizer = torch.optim.Adam([self.scaled], lr=self.learning_rate)
        self.path_costs = torch.full((self.samples,), torch.inf, device=self.device)  # each path's cheapest point
        self.path_best = actions.detach().clone()
        self.best.elites = 0  # the elites are the paths' cheapest points (`plan`), not the cheapest sequences evaluated

    def plan(self, problem: PlanningProblem) -> Plan:
        """The cheapest sequence evaluated (see SamplingPlanner.plan); with `elites`, extras["elites"] (E, T, nu)
        and extras["elite_costs"] (E,) are the cheapest point of each path with a finite cost, cheapest first."""
        plan = super().plan(problem)
        if self.elites:
            order = torch.argsort(self.path_costs)[: self.elites]
            order = order[torch.isfinite(self.path_costs[order])]
            plan.extras["elites"] = self.path_best[order].cpu().double().numpy()
            plan.extras["elite_costs"] = self.path_costs[order].cpu().double().numpy()
        return plan

    def sample(self) -> torch.Tensor:
        return self.low + self.scaled * self.width

    def refit(self, actions: torch.Tensor, costs: torch.Tensor) -> None:
        cheaper = costs.detach() < self.path_costs  # costs are +inf where not finite
        self.path_costs = torch.where(cheaper, costs.detach(), self.path_costs)
        self.path_best[cheaper] = actions.detach()[cheaper]
        finite = torch.isfinite(costs)
        (gradient,) = torch.autograd.grad(torch.where(finite, costs, 0.0).sum(), self.scaled)
        self.scaled.grad = torch.nan_to_num(gradient, nan=0.0, posinf=0.0, neginf=0.0)
        self.optimizer.step()
        with torch.no_grad():
            self.scaled.clamp_(0.0, 1.0)
