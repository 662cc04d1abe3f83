"""On-policy data: transitions collected with a controller in the loop, for data aggregation.

A model trained on exploration data is accurate where the exploration policy goes, and a controller
goes elsewhere: it pushes the object towards goals, along the sides that the cost prefers. Data
aggregation (DAgger, Ross et al. 2011) closes that gap: collect transitions with the controller on
the current model in the loop, add them to the training data, train again. `ControllerPolicy` is a
collection policy for `envs.collect.collect_transitions`: every step it asks the env's exploration
policy for an action (so that its pushes keep going) and, with probability `explore`, takes it;
otherwise it takes the receding-horizon controller's action on the model.

The controller is a sampling planner with a fixed number of iterations per step, not a wall-clock
budget, so that a seeded collection is reproducible bit for bit like any other; or the anytime MILP
planner ("milp"), which plans to a wall-clock budget per step (`time_limit`): its data are where the exact
planner goes, the states and actions on which it would exploit the model's error (docs/models.md), and
a collection with it is not reproducible bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

COLLECTION_PLANNERS = ("mppi", "cem", "random", "milp")
_CHECKPOINTS: dict = {}


@dataclass(frozen=True)
class ControllerPolicy:
    """A collection policy: the controller on a model, mixed with the env's exploration policy.

    Args:
        checkpoint: path of the model the controller plans on (a `sparsedyn train` checkpoint).
        planner: the sampling planner ("mppi", "cem" or "random"), or "milp" (mpc.milp.anytime).
        horizon: planning horizon in control steps.
        iterations: a sampling planner's iterations per control step (its budget).
        explore: probability that a step takes the exploration policy's action instead.
        time_limit: the MILP planner's budget per control step, in seconds (a sampling planner's is
            `iterations`).

    Picklable (collection runs in worker processes); each worker loads the checkpoint once.
    """

    checkpoint: str
    planner: str = "mppi"
    horizon: int = 8
    iterations: int = 8
    explore: float = 0.3
    time_limit: float = 0.2

    @property
    def name(self) -> str:
        """How the data was collected (the file's metadata "exploration")."""
        budget = f"{self.time_limit:g} s" if self.planner == "milp" else f"{self.iterations} iterations"
        return f"controller ({self.planner}, H={self.horizon}, {budget}, explore {self.explore:g})"

    def __call__(self, env, rng: np.random.Generator) -> Callable[[np.ndarray], np.ndarray]:
        """The policy of one episode, made after the env's reset (its goal is set)."""
        import torch

        from envs.exploration import exploration_policy
        from mpc.control.controller import RecedingHorizonController
        from mpc.control.task import ControlSettings, control_task, goal_features
        from mpc.planners import make_fallback_planner, make_planner
        from mpc.sampling.cem import CEMPlanner
        from mpc.sampling.mppi import MPPIPlanner
        from mpc.sampling.random_shooting import RandomShootingPlanner

        torch.set_num_threads(1)
        model, seed = _model(self.checkpoint), int(rng.integers(2**31))
        metadata = env.unwrapped.dataset_metadata()
        if self.planner == "milp":
            task = control_task(metadata, ControlSettings(horizon=self.horizon, time_limit=self.time_limit))
            controller = RecedingHorizonController(
                make_planner("milp", model, seed=seed), task, make_fallback_planner(model, seed)
            )
        else:
            task = control_task(metadata, ControlSettings(horizon=self.horizon, time_limit=1e6))
            planner_class = {"mppi": MPPIPlanner, "cem": CEMPlanner, "random": RandomShootingPlanner}[self.planner]
            planner = planner_class(model, seed=seed, max_iterations=self.iterations)
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
