"""Every planner by name, built on one dynamics model: the MILP on its frozen export, the
sampling planners on the torch module itself."""

from __future__ import annotations

from torch import nn

from dynamics.frozen import FrozenGraph, FrozenNetwork
from mpc.milp.kinds import model_kind
from mpc.sampling.cem import CEMPlanner
from mpc.errors import MPCError
from mpc.sampling.gradient_descent import GradientDescentPlanner
from mpc.milp.planner import DEFAULT_BOUNDS, MILPPlanner
from mpc.sampling.mppi import MPPIPlanner
from mpc.sampling.random_shooting import RandomShootingPlanner
from mpc.milp.warm_started import SamplingWarmStartedPlanner

PLANNER_NAMES = ("milp", "milp-cem", "mppi", "cem", "random", "gd")


def frozen_dynamics(model: nn.Module, num_objects: int | None = None) -> FrozenNetwork | FrozenGraph:
    """The model's frozen export (seam 2); a graph model's on `num_objects` objects if given."""
    frozen = model.export()
    return frozen if num_objects is None else model_kind(frozen).with_objects(frozen, num_objects)


def make_planner(name: str, model: nn.Module, seed: int = 0, bounds: str = DEFAULT_BOUNDS, threads: int = 1,
                 num_objects: int | None = None):
    """A planner with plan(PlanningProblem) -> Plan; `bounds`, `threads` and `num_objects` (the graph
    the MILP encodes, for a graph model) concern the MILP only: the torch models take any state.

    "milp-cem" spends 30% of each step's budget on CEM and warm-starts the MILP with its plan.
    """
    if name == "milp":
        network = frozen_dynamics(model, num_objects)
        state_dim = network.output_dim
        return MILPPlanner(network, state_dim, network.input_dim - state_dim, bounds=bounds, threads=threads)
    if name == "milp-cem":
        milp = make_planner("milp", model, seed, bounds, threads, num_objects)
        return SamplingWarmStartedPlanner(CEMPlanner(model, seed=seed), milp)
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
