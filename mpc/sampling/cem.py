"""Cross-entropy method (CEM) on a torch dynamics model.

Each iteration samples action sequences from an independent Gaussian per step and entry,
clipped to the action box, keeps the `elites` cheapest, and refits mean and standard deviation
to them (smoothed by `momentum`, floored at `min_std` of the box width). The plan is the
lowest-cost sequence evaluated.
"""

from __future__ import annotations

import torch

from mpc.sampling.base import SamplingPlanner


class CEMPlanner(SamplingPlanner):
    """CEM: a Gaussian per step and action entry, refit to the cheapest `refit_elites` samples.

    Args:
        model: the torch dynamics model (see SamplingPlanner).
        refit_elites: how many of the K cheapest sequences the Gaussian is refit to (at most K); None
            (default): K // 8 (32 of the CPU's 256, 512 of a GPU's 4096).
        initial_std: the first standard deviation, as a fraction of the action box width.
        min_std: the floor of the standard deviation, as a fraction of the action box width.
        momentum: the share of the old mean and standard deviation kept at every refit (0: none).
        **options: samples (K, default by device: 256 on the CPU, 4096 on a GPU; the first is the mean
            itself), seed, max_iterations, device, elites (the cheapest sequences a plan hands back, as
            starts for mpc.milp.anytime): see SamplingPlanner.

    Shapes:
        mean and std (T, nu), the mean starting at the warm start or the box centre; samples (K, T, nu).
    """

    def __init__(
        self,
        model: torch.nn.Module,
        *,
        refit_elites: int | None = None,
        initial_std: float = 0.5,
        min_std: float = 0.02,
        momentum: float = 0.1,
        **options,
    ) -> None:
        super().__init__(model, **options)
        self.refit_elites = max(1, self.samples // 8) if refit_elites is None else refit_elites
        self.initial_std = initial_std
        self.min_std = min_std
        self.momentum = momentum

    def begin(self) -> None:
        self.mean = self.initial_sequence()
        self.std = (self.initial_std * self.width).expand_as(self.mean).clone()

    def sample(self) -> torch.Tensor:
        return self.gaussian(self.mean, self.std)

    def refit(self, actions: torch.Tensor, costs: torch.Tensor) -> None:
        elite = actions[torch.topk(costs, self.refit_elites, largest=False).indices]
        self.mean = self.momentum * self.mean + (1 - self.momentum) * elite.mean(dim=0)
        std = self.momentum * self.std + (1 - self.momentum) * elite.std(dim=0)
        self.std = torch.maximum(std, self.min_std * self.width)
