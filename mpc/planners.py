"""Every planner by name, built on one dynamics model: the MILP on its frozen export, the
sampling planners on the torch module itself.

The MILP planners run on the CPU whatever the device (the export is numpy arrays, made from a model
on any device); the planners of DEVICE_PLANNERS run their torch work on the device asked for (see
mpc.sampling.base), with sample counts by device unless `samples` is given.

The planners (torch, HiGHS) load when one is made, so that the CLI can list the names cheaply."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from mpc.errors import MPCError
from mpc.milp.bounds.modes import DEFAULT_BOUNDS

if TYPE_CHECKING:
    import torch
    from torch import nn

    from dynamics.frozen import FrozenGraph, FrozenNetwork
    from mpc.sampling.random_shooting import RandomShootingPlanner

ANYTIME_SAMPLERS = ("gd", "cem", "mppi")  # the samplers of the anytime "milp" planner, by turns
ANYTIME_ELITES = 32  # sequences a sampler hands back to a MILP planner (anytime starts, milp-cem's screening)

PLANNER_NAMES = ("milp", "milp-exact", "milp-cem", "mppi", "cem", "random", "gd")

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


def graph_objects(metadata: dict) -> int:
    """The objects of an env's state, its points after the pusher's (discs, rope particles): the graph a graph
    model's MILP encodes on that env (`num_objects` of make_planner); a frozen MLP ignores it."""
    return len(metadata["state_layout"]) // 2 - 1


def frozen_dynamics(model: nn.Module, num_objects: int | None = None) -> FrozenNetwork | FrozenGraph:
    """The model's frozen export (seam 2); a graph model's on `num_objects` objects if given."""
    from mpc.milp.kinds import model_kind

    frozen = model.export()
    return frozen if num_objects is None else model_kind(frozen).with_objects(frozen, num_objects)


def make_planner(
    name: str,
    model: nn.Module,
    seed: int = 0,
    bounds: str | None = None,
    threads: int = 1,
    num_objects: int | None = None,
    solver: str = "highs",
    device: str | torch.device | None = None,
    samples: int | None = None,
    cut_rounds: int = 0,
    highs_options: dict | None = None,
    data_ranges: bool = False,
    anytime_samplers: Sequence[str] = ANYTIME_SAMPLERS,
    constant_starts: bool = True,
    extrapolate: bool = True,
    sampling_share: float | None = None,
    round_time: float | None = None,
    trust_region: float | None = None,
):
    """A planner with plan(PlanningProblem) -> Plan, built on `model` (a torch dynamics model).

    "milp" is the anytime MILP planner (mpc.milp.anytime: gradient descent's, CEM's and MPPI's elites as
    starts, exact descent over the program's linear regions, branch-and-bound last for the bound); "milp-exact"
    solves the full program by branch-and-bound from the warm start (mpc.milp.planner); "milp-cem" spends 30% of each
    step's budget on CEM and warm-starts "milp-exact" with its plan (with obstacles, the cheapest of CEM's
    elites that keeps out, where its plan does not: mpc.milp.screening). The others sample on the torch
    model (mpc.sampling).

    Args:
        name: one of PLANNER_NAMES.
        seed: seeds the planner's random numbers.
        bounds: the MILP's bound mode (mpc.milp.bounds.modes.BOUND_MODES); None: the planner's default
            ("linear" for "milp", DEFAULT_BOUNDS for the others).
        threads: HiGHS threads.
        num_objects: the graph a graph model's MILP encodes (the torch models take any state).
        solver: the branch-and-bound of "milp-exact" and "milp-cem": "highs" or "scip" (mpc.milp.scip).
        device: where the sampling planners (milp-cem: its CEM) run ("auto", "cpu", "cuda", a
            torch.device; None: where the model is); the MILP planners run on the CPU
            (`planner_device` says which device a CLI run uses).
        samples: K per iteration of the sampling planners (gd: its starts); None: the device's default
            (mpc.sampling.defaults).
        cut_rounds: rounds of ideal single-neuron cuts the MILP planners add before branch-and-bound
            (mpc.milp.cuts; 0: none).
        highs_options: further HiGHS options for the MILP planners' branch-and-bound (mpc.milp.highs.new_highs).
        data_ranges: the MILP planners ("milp", "milp-exact", "milp-cem") cut their neuron bounds to the
            model's recorded pre-activation ranges on its data (mpc.milp.bounds.data_ranges; off by default,
            not sound: the plan's extras count its neurons outside them); the sampling planners ignore it.

        anytime_samplers: the sampling planners whose elites start the anytime "milp" planner's region descents,
            by turns: any of "gd" (gradient descent), "cem", "mppi".
        constant_starts: the anytime "milp" planner also descends from constant action sequences, one per
            sampling round (mpc.milp.anytime.constant_sequences); False: from the samplers' elites and the warm
            start only.
        extrapolate: the anytime "milp" planner's region descents search beyond each region optimum along their
            last step (mpc.milp.region.RegionSearch.descend); False: they only cross the boundaries at the optimum.
        sampling_share, round_time: the anytime "milp" planner's sampling rounds: the fraction of the budget and
            the seconds each gets at most; None: the planner's defaults (mpc.milp.anytime.AnytimeMILPPlanner).
        trust_region: the anytime "milp" planner searches only within this distance (action units, per entry) of
            its first sampling round's plan, after that one round (mpc.milp.anytime); None: the whole action box.
            The other planners ignore it.

    Raises:
        MPCError: an unknown planner name or anytime sampler.
        ProblemError: data_ranges for a MILP planner on a model without recorded ranges; a trust_region that is not
            a positive finite number.
    """
    from mpc.milp.anytime import DEFAULT_ANYTIME_BOUNDS, AnytimeMILPPlanner
    from mpc.milp.planner import MILPPlanner
    from mpc.milp.warm_started import SamplingWarmStartedPlanner
    from mpc.sampling.cem import CEMPlanner
    from mpc.sampling.gradient_descent import GradientDescentPlanner
    from mpc.sampling.mppi import MPPIPlanner
    from mpc.sampling.random_shooting import RandomShootingPlanner

    milp_options = dict(threads=threads, cut_rounds=cut_rounds, highs_options=highs_options, data_ranges=data_ranges)
    if name in ("milp", "milp-exact"):
        network = frozen_dynamics(model, num_objects)
        state_dim, action_dim = network.output_dim, network.input_dim - network.output_dim
        if name == "milp":
            # By default gradient descent's paths start the first round, CEM's elites the second, MPPI's the third,
            # and so on (docs/benchmarks.md: gradient descent's paths give the better starts on pushing).
            kinds = {"cem": CEMPlanner, "mppi": MPPIPlanner, "gd": GradientDescentPlanner}
            unknown = sorted(set(anytime_samplers) - set(kinds))
            if unknown or not anytime_samplers:
                raise MPCError(f"anytime_samplers must name one or more of {', '.join(kinds)}, got {anytime_samplers}")
            rounds = {"sampling_share": sampling_share, "round_time": round_time}
            samplers = [
                kinds[kind](model, seed=seed + index, elites=ANYTIME_ELITES)
                for index, kind in enumerate(anytime_samplers)
            ]
            return AnytimeMILPPlanner(
                network,
                state_dim,
                action_dim,
                samplers,
                bounds=bounds or DEFAULT_ANYTIME_BOUNDS,
                constant_starts=constant_starts,
                extrapolate=extrapolate,
                trust_region=trust_region,
                **{key: value for key, value in rounds.items() if value is not None},
                **milp_options,
            )
        return MILPPlanner(
            network, state_dim, action_dim, bounds=bounds or DEFAULT_BOUNDS, solver=solver, **milp_options
        )
    if name == "milp-cem":
        milp = make_planner("milp-exact", model, seed, bounds, num_objects=num_objects, solver=solver, **milp_options)
        cem = CEMPlanner(model, seed=seed, samples=samples, device=device, elites=ANYTIME_ELITES)  # elites: screening
        return SamplingWarmStartedPlanner(cem, milp)
    if name == "mppi":
        return MPPIPlanner(model, seed=seed, samples=samples, device=device)
    if name == "cem":
        return CEMPlanner(model, seed=seed, samples=samples, device=device)
    if name == "random":
        return RandomShootingPlanner(model, seed=seed, samples=samples, device=device)
    if name == "gd":
        return GradientDescentPlanner(model, seed=seed, starts=samples, device=device)
    raise MPCError(f"unknown planner {name!r}; choose one of {', '.join(PLANNER_NAMES)}")


def make_fallback_planner(
    model: nn.Module, seed: int = 0, device: str | torch.device | None = None
) -> RandomShootingPlanner:
    """One batch of random shooting (of the device's default size) on `device` (None: where the model is):
    a cheap plan for a step where the main planner has none."""
    from mpc.sampling.random_shooting import RandomShootingPlanner

    return RandomShootingPlanner(model, seed=seed, max_iterations=1, device=device)
