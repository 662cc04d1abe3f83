"""Every planner by name, built on one dynamics model: the MILP on its frozen export, the
sampling planners on the torch module itself."""

from __future__ import annotations

from torch import nn

from mpc.cem import CEMPlanner
from mpc.errors import MPCError
from mpc.gradient_descent import GradientDescentPlanner
from mpc.milp_planner import DEFAULT_BOUNDS, MILPPlanner
from mpc.mppi import MPPIPlanner
from mpc.random_shooting import RandomShootingPlanner
from mpc.warm_started import SamplingWarmStartedPlanner

PLANNER_NAMES = ("milp", "milp-cem", "mppi", "cem", "random", "gd")


def make_planner(name: str, model: nn.Module, seed: int = 0, bounds: str = DEFAULT_BOUNDS, threads: int = 1):
    """A planner with plan(PlanningProblem) -> Plan; `bounds` and `threads` concern the MILP only.

    "milp-cem" spends 30% of each step's budget on CEM and warm-starts the MILP with its plan.
    """
    if name == "milp":
        return MILPPlanner(model.export(), model.state_dim, model.action_dim, bounds=bounds, threads=threads)
    if name == "milp-cem":
        return SamplingWarmStartedPlanner(CEMPlanner(model, seed=seed), make_planner("milp", model, seed, bounds, threads))
    if name == "mppi":
        return MPPIPlanner(model, seed=seed)
    if name == "cem":
        return CEMPlanner(model, seed=seed)
    if name == "random":
        return RandomShootingPlanner(model, seed=seed)
    if name == "gd":
        return GradientDescentPlanner(model, seed=seed)
    raise MPCError(f"unknown planner {name!r}; choose one of {', '.join(PLANNER_NAMES)}")


def make_fallback_planner(model: nn.Module, seed: int = 0) -> RandomShootingPlanner:
    """One batch of random shooting: a cheap plan for a step where the main planner has none."""
    return RandomShootingPlanner(model, seed=seed, max_iterations=1)
