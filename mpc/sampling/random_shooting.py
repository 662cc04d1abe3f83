"""Random shooting on a torch dynamics model: uniform action sequences in the box, keep the best.

The warm start, if any, is evaluated first (clipped to the action box), so the plan is never worse than it.
"""

from __future__ import annotations

import torch

from mpc.sampling.base import SamplingPlanner


class RandomShootingPlanner(SamplingPlanner):
    """Random shooting: K sequences uniform in the action box per iteration, nothing learned.

    Args:
        model: the torch dynamics model (see SamplingPlanner).
        samples: K, sequences per iteration (default by device: 256 on the CPU, 4096 on a GPU); the warm
            start or box centre is evaluated once before the first iteration.
        seed, max_iterations, elites, device: see SamplingPlanner.
    """

    def begin(self) -> None:
        self.consider(self.initial_sequence().unsqueeze(0))

    def sample(self) -> torch.Tensor:
        return self.uniform(self.samples)
