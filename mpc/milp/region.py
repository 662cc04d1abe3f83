"""Linear regions of a planning program: the best plan in one region, and a walk from region to region.

A piecewise-linear dynamics model is linear inside each region of its input space where every ReLU
keeps its sign. Fixing every binary of the planning program (mpc.milp.horizon) to an *activation
pattern* (which ReLU copy is on, at every step) turns the big-M rows of each switching ReLU into its
linear piece,

    on  (a = 1):   y = z,  z >= 0
    off (a = 0):   y = 0,  z <= 0

so the program becomes a linear program over the actions and states: the planning problem restricted
to one linear region of the model over the whole horizon. Inside the region the states are an affine
function of the actions, so the LP condenses to one over the actions and the cost's auxiliary columns
(mpc.milp.condensing), which HiGHS solves in milliseconds.

At the optimum of a region, a ReLU whose pre-activation sits at zero lies on the boundary with the
region where it is flipped, and the optimum is feasible there too (a ReLU is continuous at zero).
Flipping all such ReLUs and solving again therefore never raises the objective; `RegionSearch.descend`
repeats this from a start plan until the objective stops falling: a local optimum of the planning
problem over linear regions, found by a few LPs. Before flipping, it tries a line search: the plans
further along its last step (from the previous plan to the region optimum), rolled out on the model;
one that is cheaper lies in a region whose optimum is cheaper still, and the walk jumps there across
many boundaries at once. It is the exact local step of the anytime MILP
planner (mpc.milp.anytime); branch-and-bound on the full program is the global one.

Obstacles (mpc.milp.obstacles) take part in the same way. Their binaries choose, for every point and
step, the one face of the polygon the point must stay beyond: with them fixed too, keeping out is a
half-plane per point and step, and every plan of the region LP keeps every point out of every
obstacle exactly (no binary is left to relax). A start plan's region takes, per point and step, the
face its point is farthest beyond. At a region optimum, a point whose face row is tight and whose row
of another face holds as well (on a convex polygon: a point at or past a corner) switches to that
face: the optimum is feasible in the new region as well, so the walk stays monotone, and a point can
slide around an obstacle corner by corner.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import highspy
import numpy as np

from mpc.milp.condensing import Condenser
from mpc.milp.highs import new_highs, pass_program
from mpc.milp.horizon import HorizonProgram
from mpc.milp.program import FEASIBLE

AT_ZERO = 1e-7  # a pre-activation this close to zero is on the boundary of its ReLU's two pieces
EXTRAPOLATION_STEPS = (0.5, 1.0, 2.0, 4.0)  # multiples of a descent's last step tried beyond a region optimum


@dataclass(frozen=True)
class RegionOptimum:
    """The best point of one linear region of the program.

    Attributes:
        values: (columns,) every column's value, a feasible point of the full program.
        objective: its cost (the program's objective).
        pattern: (binaries,) bool, the region's pattern in `RegionSearch.binaries` order: the activation
            pattern of the ReLUs, then the chosen faces of every obstacle's points.
    """

    values: np.ndarray
    objective: float
    pattern: np.ndarray


def relu_columns(program) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(binaries, pre-activations, outputs): the binary, z and y column of every switching ReLU copy.

    Read off the formulation's block names (`{name}_a`, `{name}_z` and `{name}_y` of each hidden layer), so
    that MLP and graph programs alike are covered.
    """
    binaries, pre, post = [], [], []
    for name, block in program.blocks.items():
        if name.endswith("_a"):
            present = block >= 0
            binaries.append(block[present])
            pre.append(program.blocks[name[:-2] + "_z"][present])
            post.append(program.blocks[name[:-2] + "_y"][present])
    if not binaries:
        return (np.zeros(0, dtype=np.int64),) * 3
    return np.concatenate(binaries), np.concatenate(pre), np.concatenate(post)


class RegionSearch:
    """Region LPs of one horizon program (every binary fixed), condensed, each from the last one's basis.

    `binaries` lists the switching ReLUs' binaries (`relu_columns`), then every obstacle's face binaries
    (`ObstacleEncoding.columns`); a pattern has one entry per binary, in that order.

    Args:
        horizon_program: the program and where its columns live (mpc.milp.horizon.build_horizon_program).
        threads: HiGHS threads.
        extrapolate: the descent's line search beyond each region optimum (`descend`).
    """

    def __init__(self, horizon_program: HorizonProgram, threads: int = 1, extrapolate: bool = True) -> None:
        self.horizon_program, self.extrapolate = horizon_program, extrapolate
        self.program = horizon_program.program
        relu_binaries, self.pre, post = relu_columns(self.program)
        self.binaries = np.concatenate([relu_binaries, *(obstacle.columns for obstacle in horizon_program.obstacles)])
        self.condenser = Condenser(self.program, self.binaries, self.pre, post, self.program.action_columns)
        self.threads = threads
        self.basis = None  # of the last region LP solved
        self.lp_count = 0
        self.slowest_lp = 0.0  # seconds, of any region LP so far
        self.shortest_lp = 0.0  # seconds, of any region LP so far (0 before the first)

    def pattern(self, actions: np.ndarray) -> np.ndarray:
        """The pattern (binaries,) of the model's rollout under `actions` (H, m): its activation pattern, and
        for every obstacle point and step the face the point is farthest beyond."""
        return self.horizon_program.primal_point(actions)[self.binaries] > 0.5

    def optimum_at(self, values: np.ndarray, objective: float) -> RegionOptimum:
        """A point of the program (columns,) with its objective, as the optimum of its own region (a sampled
        plan that keeps to the program, a branch-and-bound incumbent)."""
        return RegionOptimum(values, objective, values[self.binaries] > 0.5)

    def lp_fits(self, deadline: float) -> bool:
        """Whether a region LP may start before `deadline` (a time.perf_counter() value): the time left is at least
        the shortest region LP so far took (see `solve`)."""
        return deadline - time.perf_counter() >= self.shortest_lp

    def solve(self, pattern: np.ndarray, deadline: float = np.inf) -> RegionOptimum | None:
        """The optimum of the region of `pattern`, or None if no plan stays in it (the LP is infeasible)
        or the LP was not solved by `deadline` (a time.perf_counter() value).

        The LP is the region's condensed LP (mpc.milp.condensing), on a fresh HiGHS instance. HiGHS looks at its
        time limit only once an LP is set up: no LP starts with less time left than the shortest region LP so
        far took (None at once).
        """
        if not self.lp_fits(deadline):
            return None
        began = time.perf_counter()
        region = self.condenser.condense(pattern)
        solved = False
        if region is not None:
            highs = new_highs(self.threads, time_limit=max(deadline - time.perf_counter(), 1e-3))
            pass_program(highs, region.lp, relax=True)
            if (
                self.basis is not None
                and (len(self.basis.row_status), len(self.basis.col_status)) == region.lp.matrix.shape
            ):
                highs.setBasis(self.basis)
            highs.run()
            solved = highs.getModelStatus() == highspy.HighsModelStatus.kOptimal
        took = time.perf_counter() - began
        self.shortest_lp = took if self.lp_count == 0 else min(self.shortest_lp, took)
        self.lp_count += 1
        self.slowest_lp = max(self.slowest_lp, took)
        if not solved:
            return None
        self.basis = highs.getBasis()
        values = region.values(np.asarray(highs.getSolution().col_value))
        return RegionOptimum(values, self.program.objective(values), pattern.copy())

    def descend(
        self, actions: np.ndarray, deadline: float = np.inf, pattern: np.ndarray | None = None
    ) -> RegionOptimum | None:
        """Walk from the region of `actions` (H, m) across the boundaries its optima reach, while the objective falls.

        After each region optimum, with `extrapolate`, the plans further along the last step (from the
        previous plan to this optimum, EXTRAPOLATION_STEPS times as far again, clipped to the action box)
        are rolled out on the model: the cheapest one that keeps to the program and is cheaper than the
        optimum gives the next region (a line search across many regions at once). Otherwise the ReLUs at
        zero flip (`boundary_flips`). Either way the next region holds a plan cheaper than, or as cheap as,
        the last optimum, so the walk never goes uphill.

        Returns the last region optimum (a local optimum over regions when the walk ends by itself),
        or None if the region of `actions` holds no feasible plan (e.g. its states leave the workspace
        box, or a point cannot get beyond its face of an obstacle). No LP runs past `deadline` (a
        time.perf_counter() value). `pattern`: the region of `actions` (`pattern(actions)`) where the caller
        has it already.
        """
        pattern = self.pattern(actions) if pattern is None else pattern
        best, previous = None, actions
        while time.perf_counter() < deadline:
            optimum = self.solve(pattern, deadline)
            if optimum is None or (best is not None and optimum.objective >= best.objective - 1e-9):
                break
            best = optimum
            reached = optimum.values[self.program.action_columns]
            beyond = self.extrapolated(previous, reached, optimum.objective) if self.extrapolate else None
            previous = reached
            if beyond is not None:
                pattern = beyond
                continue
            flip = self.boundary_flips(optimum)
            if not flip.any():
                break
            pattern = pattern ^ flip
        return best

    def extrapolated(self, start: np.ndarray, reached: np.ndarray, objective: float) -> np.ndarray | None:
        """The pattern of the cheapest plan reached + s (reached - start), s in EXTRAPOLATION_STEPS, clipped to
        the action box, that keeps to the program and costs less than `objective`; None if there is none."""
        step = reached - start
        if not np.any(np.abs(step) > AT_ZERO):
            return None
        problem = self.horizon_program.problem
        best_cost, best_point = objective - 1e-9, None
        for scale in EXTRAPOLATION_STEPS:
            point = self.horizon_program.primal_point(
                np.clip(reached + scale * step, problem.action_low, problem.action_high)
            )
            cost = self.program.objective(point)
            if cost < best_cost and self.program.violation(point) <= FEASIBLE:
                best_cost, best_point = cost, point
        return None if best_point is None else best_point[self.binaries] > 0.5

    def boundary_flips(self, optimum: RegionOptimum) -> np.ndarray:
        """(binaries,) bool: the ReLUs at zero and the obstacle points that may switch face (see the module
        docstring) at a region optimum; flipping them all keeps the optimum feasible."""
        flips = [np.abs(optimum.values[self.pre]) <= AT_ZERO]
        states = optimum.values[self.program.state_columns]
        start = self.pre.size
        for obstacle in self.horizon_program.obstacles:
            size = obstacle.columns.size
            flips.append(obstacle.switches(optimum.values, states, optimum.pattern[start : start + size]))
            start += size
        return np.concatenate(flips)
