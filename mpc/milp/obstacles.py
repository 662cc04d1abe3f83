"""Obstacles in the planning program: "outside a convex polygon" as a disjunction over its faces.

A point p = M x_t of a predicted state (mpc.problem.Obstacle: M is the point's linear map) keeps out
of a convex polygon with unit outward face normals a_f when it lies beyond at least one face. With
c_f the face's offset moved out by the obstacle's margin and soft margin (PlanningProblem.keep_out),
one binary d[t, p, f] per face, point and step chooses the face, and a depth column s[t, p] holds how
far the point reaches into the soft band:

    a_f . M x_t + s[t, p]  >=  c_f - B[t, p, f] (1 - d[t, p, f])      every face f
    sum_f d[t, p, f]  =  1
    0 <= s[t, p] <= limit_p,    cost obstacle_weight * s[t, p]

B = c_f - min(a_f . M x) over the step's state box, the program's column bounds of x_t (the rollout
bounds, cut to the workspace box): with d = 0 the row holds for every state in the box, with d = 1 it
is the face itself. limit_p is the soft margin (more for a point that starts deeper: keep_out). At an
optimum, s is the point's depth (0 outside the band), so the program's cost is the problem's
trajectory cost, hinge included, and no plan of the program takes a point past its hard limit at any
step 1..H: exact on the model. The box also saves binaries: a face the point cannot get beyond
anywhere in the box gets none, and a point beyond a face everywhere in the box needs no rows at all.

Column blocks are named `obstacle{k}_face` (H, P, F) and `obstacle{k}_depth` (H, P) for obstacle k of
the problem, so that the Pyomo export names them; the rows are plain rows of the program.

With every binary fixed (a region LP, mpc.milp.region) each point keeps to its one chosen face: a
half-plane, so the program stays a linear program. `ObstacleEncoding` chooses the faces of a given
plan (`fill`: the face each point is farthest beyond) and, at a region optimum, the points that may
change face without leaving the optimum infeasible (`switches`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mpc.errors import InfeasibleError
from mpc.milp.formulation import AffineMap
from mpc.milp.program import ProgramBuilder
from mpc.problem import PlanningProblem

ON_FACE = 1e-7  # a point this close to a face's line lies on it (state units, above HiGHS's LP tolerances)


@dataclass(frozen=True)
class ObstacleEncoding:
    """Where one obstacle's face binaries and depth columns live, and the face rows they choose between.

    Attributes:
        binaries: (H, P, F) column of d[t, p, f], -1 where the face needs no binary (the point cannot
            get beyond it within its box, or the point is beyond another face everywhere in the box).
        depths: (H, P) column of s[t, p], -1 where the point needs no rows (or its limit is 0).
        rows: (P, F, n) row (p, f) maps a state to a_f . (point p).
        offsets: (F,) c_f, where the depth starts.
    """

    binaries: np.ndarray
    depths: np.ndarray
    rows: np.ndarray
    offsets: np.ndarray

    @property
    def columns(self) -> np.ndarray:
        """The binary columns, flat (in (t, p, f) order): the order of this obstacle's part of a pattern."""
        return self.binaries[self.binaries >= 0]

    def slacks(self, values: np.ndarray, states: np.ndarray) -> np.ndarray:
        """a_f . point + s - c_f of every step 1..H, point and face: >= 0 where the row of face f holds with
        d = 1, -inf where the face has no binary.

        Shapes:
            values (columns,), states (H+1, n) -> (H, P, F).
        """
        depth = np.where(self.depths >= 0, values[self.depths], 0.0)
        slack = np.einsum("pfn,tn->tpf", self.rows, states[1:]) + depth[..., None] - self.offsets
        return np.where(self.binaries >= 0, slack, -np.inf)

    def fill(self, values: np.ndarray, states: np.ndarray) -> None:
        """Write the face binaries and depths of the plan with predicted `states` (H+1, n) into `values`: each
        point takes the face it is farthest beyond (the least deep one if it is inside), and its depth."""
        present = self.binaries >= 0
        values[self.depths[self.depths >= 0]] = 0.0
        slack = self.slacks(values, states)
        chosen = slack == slack.max(axis=-1, keepdims=True)
        chosen &= np.cumsum(chosen, axis=-1) == 1  # one face per point, the first of equals
        values[self.binaries[present]] = chosen[present]
        depth = np.maximum(-slack.max(axis=-1), 0.0)
        values[self.depths[self.depths >= 0]] = depth[self.depths >= 0]

    def switches(self, values: np.ndarray, states: np.ndarray, pattern: np.ndarray) -> np.ndarray:
        """The binaries to flip at a region optimum (`values`, predicted `states` (H+1, n)), for `pattern`
        (this obstacle's part of the region's pattern, `columns` order): every point whose chosen face's
        row is tight, and whose row of another face holds too, moves to the face with the most room.

        The optimum stays feasible in the new region (its row of the new face holds), so the next region
        LP is no worse: the same monotone argument as for a ReLU at zero (mpc.milp.region). On a convex
        polygon such a point sits at (or past) a corner, and the new face is the neighbour it may slide
        along.
        """
        present = self.binaries >= 0
        chosen = np.zeros(self.binaries.shape, dtype=bool)
        chosen[present] = pattern
        slack = self.slacks(values, states)
        on_face = np.any(chosen & (np.abs(slack) <= ON_FACE), axis=-1)
        others = np.where(chosen, -np.inf, slack)
        best = others.argmax(axis=-1)
        switch = on_face & (np.take_along_axis(others, best[..., None], axis=-1)[..., 0] >= -ON_FACE)
        target = np.zeros_like(chosen)
        np.put_along_axis(target, best[..., None], True, axis=-1)
        flip = switch[..., None] & (chosen | target)
        return flip[present]


def encode_obstacles(
    builder: ProgramBuilder,
    problem: PlanningProblem,
    states: np.ndarray,
    state_low: np.ndarray,
    state_high: np.ndarray,
) -> tuple[ObstacleEncoding, ...]:
    """Add every obstacle of `problem` to the program: face binaries, depth columns, big-M rows, one choice
    row per point and step.

    Args:
        states: (H+1, n) the state columns x[t, i].
        state_low, state_high: (H+1, n) their column bounds (finite on every entry an obstacle's
            points use: PlanningProblem.validate asks for a finite workspace box there).

    Raises:
        InfeasibleError: at some step the state box keeps a point past its hard limit.
    """
    encodings = []
    for index, (rows, offsets, limits) in enumerate(problem.keep_out()):  # (P, F, n), (F,), (P,)
        low, high = state_low[1:, None, None, :], state_high[1:, None, None, :]
        lowest = np.sum(np.minimum(rows * low, rows * high), axis=-1)  # (H, P, F): min of a_f . point over the box
        highest = np.sum(np.maximum(rows * low, rows * high), axis=-1)
        beyond_anyway = np.any(lowest >= offsets, axis=-1)  # (H, P): depth <= 0 everywhere in the box
        possible = (highest + limits[:, None] >= offsets) & ~beyond_anyway[..., None]
        trapped = ~beyond_anyway & ~possible.any(axis=-1)
        if trapped.any():
            step, point = np.argwhere(trapped)[0]
            raise InfeasibleError(
                f"obstacle {index}: point {point} cannot keep out of it at step {step + 1} within "
                "the state box (check the start state and the workspace box)"
            )
        needed = possible.any(axis=-1)  # (H, P)
        binaries = builder.add_columns(f"obstacle{index}_face", possible, 0.0, 1.0, integer=True)
        depths = builder.add_columns(f"obstacle{index}_depth", needed & (limits > 0), 0.0, limits)
        builder.add_cost(depths[depths >= 0], problem.obstacle_weight)

        # a_f . M x_t + s - B d >= c_f - B = lowest, with B = c_f - lowest, where a binary exists.
        horizon, points, faces = possible.shape
        big_m = offsets - lowest
        face_rows = rows.reshape(points * faces, -1)
        face_map = AffineMap.of_columns(states[1:]).then_affine(face_rows, np.zeros(points * faces))
        flat = np.flatnonzero(possible.reshape(-1))
        depth_of = np.repeat(depths.reshape(-1), faces)[flat]  # the depth column of each binary's (t, p)
        chooser = AffineMap(
            np.concatenate([flat, flat[depth_of >= 0]]),
            np.concatenate([binaries.reshape(-1)[flat], depth_of[depth_of >= 0]]),
            np.concatenate([-big_m.reshape(-1)[flat], np.ones(np.count_nonzero(depth_of >= 0))]),
            np.zeros((horizon, points * faces)),
        )
        (face_map + chooser).constrain(builder, lowest.reshape(horizon, -1), np.inf, possible.reshape(horizon, -1))

        row_of = np.cumsum(needed.reshape(-1)) - 1
        positions = np.argwhere(possible)  # (t, p, f) of every binary, in column order
        builder.add_rows(
            int(needed.sum()),
            row_of[positions[:, 0] * points + positions[:, 1]],
            binaries[possible],
            np.ones(len(positions)),
            1.0,
            1.0,
        )
        encodings.append(ObstacleEncoding(binaries, depths, rows, offsets))
    return tuple(encodings)
