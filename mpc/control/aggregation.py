"""On-policy data: transitions collected with a controller in the loop, for data aggregation.

A model trained on exploration data is accurate where the exploration policy goes, and a controller
goes elsewhere: it pushes the object towards goals, along the sides that the cost prefers. Data
aggregation (DAgger, Ross et al. 2011) closes that gap: collect transitions with the controller on
the current model in the loop, add them to the training data, train again. `ControllerPolicy` is a
collection policy for `envs.collect.collect_transitions`: every step it asks the env's exploration
policy for an action (so that its pushes keep going) and, with probability `explore`, takes it;
otherwise it takes the receding-horizon controller's action on the model.

The controller is a sampling planner with a fixed number of iterations per step, not a wall-clock
budget, so that a seeded collection is reproducible bit for bit like any other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

COLLECTION_PLANNERS = ("mppi", "cem", "random")
_CHECKPOINTS: dict = {}


@dataclass(frozen=True)
class ControllerPolicy:
    """A collection policy: the controller on a model, mixed with the env's exploration policy.

    Args:
        checkpoint: path of the model the controller plans on (a `sparsedyn train` checkpoint).
        planner: the sampling planner ("mppi", "cem" or "random").
        horizon: planning horizon in control steps.
        iterations: the planner's iterations per control step (its budget).
        explore: probability that a step takes the exploration policy's action instead.

    Picklable (collection runs in worker processes); each worker loads the checkpoint once.
    """

    checkpoint: str
    planner: str = "mppi"
    horizon: int = 8
    iterations: int = 8
    explore: float = 0.3

    @property
    def name(self) -> str:
        """How the data was collected (the file's metadata "exploration")."""
        return f"controller ({self.planner}, H={self.horizon}, {self.iterations} iterations, explore {self.explore:g})"

    def __call__(self, env, rng: np.random.Generator) -> Callable[[np.ndarray], np.ndarray]:
        """The policy of one episode, made after the env's reset (its goal is set)."""
        import torch

        from envs.exploration import exploration_policy
        from mpc.control.controller import RecedingHorizonController
        from mpc.control.task import ControlSettings, control_task, goal_features
        from mpc.sampling.cem import CEMPlanner
        from mpc.sampling.mppi import MPPIPlanner
        from mpc.sampling.random_shooting import RandomShootingPlanner

        torch.set_num_threads(1)
        model = _model(self.checkpoint)
        task = control_task(env.unwrapped.dataset_metadata(), ControlSettings(horizon=self.horizon, time_limit=1e6))
        planner_class = {"mppi": MPPIPlanner, "cem": CEMPlanner, "random": RandomShootingPlanner}[self.planner]
        planner = planner_class(model, seed=int(rng.integers(2**31)), max_iterations=self.iterations)
        controller = RecedingHorizonController(planner, task)
        goal = goal_features(task, env.unwrapped.goal)
        exploration = exploration_policy(env.spec.id)(env, rng)

        def act(observation: np.ndarray) -> np.ndarray:
            explored = exploration(observation)  # always asked, so that its open-loop pushes keep their course
            if rng.random() < self.explore:
                return explored
            action, _ = controller.act(observation.astype(np.float64), goal)
            return action.astype(np.float32)

        return act


def _model(path: str):
    from dynamics.checkpoint import load_checkpoint

    if path not in _CHECKPOINTS:
        _CHECKPOINTS[path] = load_checkpoint(path).model
    return _CHECKPOINTS[path]
