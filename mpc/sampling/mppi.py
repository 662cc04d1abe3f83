"""Model predictive path integral control (MPPI) on a torch dynamics model.

Each iteration perturbs the current mean action sequence with Gaussian noise, rolls all
samples out in one batch, and moves the mean to the softmin-weighted average of the samples
(temperature `temperature`, in cost units). Samples are clipped to the action box. The plan is
the lowest-cost sequence evaluated, so a good warm start is never lost.
"""

from __future__ import annotations

import torch

from mpc.sampling.base import SamplingPlanner


class MPPIPlanner(SamplingPlanner):
    """MPPI: Gaussian perturbations of one mean sequence, refit as their softmin-weighted average.

    Args:
        model: the torch dynamics model (see SamplingPlanner).
        noise_scale: standard deviation of the noise on every action entry, as a fraction of the
            action box width in that entry (0.5: half the box).
        temperature: lambda of the softmin weights exp(-(cost - min cost) / lambda), in cost units:
            smaller follows the cheapest samples more greedily.
        **options: samples (K, default by device: 256 on the CPU, 4096 on a GPU; the first is the mean
            itself), seed, max_iterations, elites, device: see SamplingPlanner.

    Shapes:
        mean (T, nu), starting at the warm start or the box centre; samples (K, T, nu).
    """

    def __init__(
        self, model: torch.nn.Module, *, noise_scale: float = 0.5, temperature: float = 0.1, **options
    ) -> None:
        super().__init__(model, **options)
        self.noise_scale = noise_scale
        self.temperature = temperature

    def begin(self) -> None:
        self.mean = self.initial_sequence()

    def sample(self) -> torch.Tensor:
        return self.gaussian(self.mean, self.noise_scale * self.width)

    def refit(self, actions: torch.Tensor, costs: torch.Tensor) -> None:
        weights = torch.softmax(-(costs - costs.min()) / self.temperature, dim=0)
        self.mean = torch.einsum("b,bhm->hm", weights, actions)
