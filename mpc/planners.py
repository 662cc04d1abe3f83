"""Every planner by name, built on one dynamics model: the MILP on its frozen export, the
sampling planners on the torch module itself.

The MILP planners run on the CPU whatever the device (the export is numpy arrays, made from a model
on any device); the planners of DEVICE_PLANNERS run their torch work on the device asked for (see
mpc.sampling.base), with sample counts by device unless `samples` is given.

The planners (torch, HiGHS) load when one is made, so that the CLI can list the names cheaply."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mpc.errors import MPCError
from mpc.milp.bounds.modes import DEFAULT_BOUNDS

if TYPE_CHECKING:
    import torch
    from torch import nn

    from dynamics.frozen import FrozenGraph, FrozenNetwork
    from mpc.sampling.random_shooting import RandomShootingPlanner

PLANNER_NAMES = ("milp", "milp-cem", "mppi", "cem", "random", "gd")

#: The planners whose search runs on the torch model, on the device asked for (milp-cem: its CEM share);
#: every other planner is the MILP's, on the CPU.
DEVICE_PLANNERS = ("milp-cem", "mppi", "cem", "random", "gd")


def planner_device(name: str, device: str | torch.device | None = "auto") -> torch.device:
    """Where planner `name` runs its torch work (and its fallback planner) for `--device device`: that device
    (resolved, see dynamics.device.resolve_device) for DEVICE_PLANNERS, the CPU for the MILP planners.

    Raises:
        DeviceError: a CUDA device torch cannot use, whichever the planner (it was asked for).
    """
    import torch

    from dynamics.device import resolve_device

    resolved = resolve_device(device)
    return resolved if name in DEVICE_PLANNERS else torch.device("cpu")


def frozen_dynamics(model: nn.Module, num_objects: int | None = None) -> FrozenNetwork | FrozenGraph:
    """The model's frozen export (seam 2); a graph model's on `num_objects` objects if given."""
    from dynamics.frozen import FrozenGraph

    frozen = model.export()
    if isinstance(frozen, FrozenGraph) and num_objects is not None:
        frozen = frozen.with_objects(num_objects)
    return frozen


def make_planner(name: str, model: nn.Module, seed: int = 0, bounds: str = DEFAULT_BOUNDS, threads: int = 1,
                 num_objects: int | None = None, device: str | torch.device | None = None, samples: int | None = None):
    """A planner with plan(PlanningProblem) -> Plan; `bounds`, `threads` and `num_objects` (the graph
    the MILP encodes, for a graph model) concern the MILP only: the torch models take any state.

    `device` ("auto", "cpu", "cuda", a torch.device; None: where the model is) and `samples` (K per
    iteration, gd's starts; None: the default of the device, mpc.sampling.defaults) concern
    the sampling planners (milp-cem: its CEM); `planner_device` says which device a CLI run uses.

    "milp-cem" spends 30% of each step's budget on CEM and warm-starts the MILP with its plan.
    """
    from mpc.highs_banner import silence_highs_banner
    from mpc.milp.planner import MILPPlanner
    from mpc.milp.warm_started import SamplingWarmStartedPlanner
    from mpc.sampling.cem import CEMPlanner
    from mpc.sampling.gradient_descent import GradientDescentPlanner
    from mpc.sampling.mppi import MPPIPlanner
    from mpc.sampling.random_shooting import RandomShootingPlanner

    if name == "milp":
        silence_highs_banner()  # stdout holds results only
        network = frozen_dynamics(model, num_objects)
        state_dim = network.output_dim
        return MILPPlanner(network, state_dim, network.input_dim - state_dim, bounds=bounds, threads=threads)
    if name == "milp-cem":
        milp = make_planner("milp", model, seed, bounds, threads, num_objects)
        return SamplingWarmStartedPlanner(CEMPlanner(model, seed=seed, samples=samples, device=device), milp)
    if name == "mppi":
        return MPPIPlanner(model, seed=seed, samples=samples, device=device)
    if name == "cem":
        return CEMPlanner(model, seed=seed, samples=samples, device=device)
    if name == "random":
        return RandomShootingPlanner(model, seed=seed, samples=samples, device=device)
    if name == "gd":
        return GradientDescentPlanner(model, seed=seed, starts=samples, device=device)
    raise MPCError(f"unknown planner {name!r}; choose one of {', '.join(PLANNER_NAMES)}")


def make_fallback_planner(model: nn.Module, seed: int = 0,
                          device: str | torch.device | None = None) -> RandomShootingPlanner:
    """One batch of random shooting (of the device's default size) on `device` (None: where the model is):
    a cheap plan for a step where the main planner has none."""
    from mpc.sampling.random_shooting import RandomShootingPlanner

    return RandomShootingPlanner(model, seed=seed, max_iterations=1, device=device)
