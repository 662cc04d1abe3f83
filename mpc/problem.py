"""Planning problems and plans: the seam between the controller and every planner.

Every planner, mixed-integer or sampling, takes a PlanningProblem and returns a Plan. The cost
is linear so the MILP can hold it exactly, and it is evaluated by `trajectory_cost` for every
planner alike:

    cost = sum_{t=1}^{H-1} discount^(t-1) state_weights . |C x_t - goal|
           + discount^(H-1) terminal_weights . |C x_H - goal|
           + action_weight * sum_{t=0}^{H-1} discount^t |u_t|_1
           + obstacle_weight * sum_{t=1}^{H} sum_{obstacles, points} max(0, depth)

C is the optional `cost_matrix` (k, state_dim) of linear cost features, the identity if absent;
goal and both weight vectors have one entry per feature. The discount (1 by default) prices the
horizon's first steps above its last, where a learned model is least accurate; obstacles are
never discounted.

Obstacles (`Obstacle`) are convex polygons in state coordinates that given points of the state (the
pusher, object keypoints: linear maps of the state) keep out of at steps 1..H. A point's `depth` is
how far it lies inside the polygon moved out by the obstacle's margin and soft margin (the Euclidean
distance to that boundary; <= 0 outside): the last term is a hinge penalty on that signed distance.
The sampling planners minimise it with the rest of the cost; for the MILP planners it is the cost of
the soft band, and a point going deeper than the band (into the polygon moved out by the hard margin)
is not a plan at all (a disjunction over the faces, mpc.milp.obstacles). `keep_out` states what each
point must keep to, `obstacle_depths` gives every point's depth, `predicts_collision` whether a plan's
predicted states break a hard limit.

A Task is the part of a problem that stays fixed while a controller replans (horizon, action box,
cost, constraints, workspace box, time limit); a PlanningProblem is a Task plus the current state,
the goal and a warm start (`Task.problem(state, goal, warm_start)`).

A PlanningProblem checks itself when it is made (`validate`): everything about the problem on its
own, whichever planner gets it. What a planner adds is only whether the problem fits its model
(state and action dimensions).

Plan.status is one of PLAN_STATUSES:

    ==============  =========================================================================
    "optimal"       MILP: solved to its relative gap (mpc.milp.highs)
    "time_limit"    MILP: stopped by the time limit with an incumbent; Plan.gap says how far
    "stopped"       MILP: stopped by another HiGHS limit with an incumbent
    "budget"        sampling planner: the best sequence it evaluated within its budget
    "sampled"       MILP warm-started by sampling: the MILP found no plan, the sampled plan is
                    returned, as "sampled (MILP: <error class>)" (mpc.milp.warm_started); or
                    the anytime MILP found none cheaper: "sampled (MILP: no better plan)"
    "fallback"      the controller: the planner raised, the warm start (or the centre of the
                    action box) is used, as "fallback (<error class>)" (mpc.control.controller)
    ==============  =========================================================================

The last two carry the error in brackets; `Plan.status.split(" ")[0]` is always in PLAN_STATUSES.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING

import numpy as np

from mpc.errors import ProblemError

if TYPE_CHECKING:  # torch is imported where a cost is computed, so reading a problem stays light
    import torch

OPTIMAL, TIME_LIMIT, STOPPED = "optimal", "time_limit", "stopped"
OBSTACLE_WEIGHT = 20.0  # default hinge weight: cost per cm of depth, per point and step (see Task)
COLLISION_TOLERANCE = 1e-4  # a point this far beyond its hard limit (state units, here 1 um) is a collision
BUDGET = "budget"
SAMPLED, FALLBACK = "sampled", "fallback"
PLAN_STATUSES = (OPTIMAL, TIME_LIMIT, STOPPED, BUDGET, SAMPLED, FALLBACK)


@dataclass(frozen=True)
class Obstacle:
    """A convex polygon that some points of the state must stay out of, at every planned step t = 1..H.

    Point p of a state x is `points[p] @ x`: the pusher is the pair of rows selecting (pusher_x, pusher_y);
    a point on an object's outline mixes keypoint entries (the midpoint of two keypoints averages them).
    With a_f the unit outward normal and b_f the offset of face f, the point's depth is

        depth = min over faces f of (b_f + margin + soft_margin - a_f . (points[p] @ x)):

    inside the polygon moved out by margin + soft_margin, the Euclidean distance to its boundary; <= 0
    outside it. Hard: depth <= soft_margin, i.e. the point stays beyond at least one face moved out by
    `margin` (a disc of radius r around the point clears the polygon when the point keeps out with
    margin r: the pusher). Soft: depth > 0, within the `soft_margin` band, costs the problem's
    obstacle_weight per unit of depth, per point and step (room for the model's error, which the
    receding-horizon controller then observes; see PlanningProblem.keep_out for a point that starts
    deeper). The sampling planners see only the cost: for them the hard part is the same hinge.

    Args:
        vertices: (V, 2), V >= 3, the corners of a convex polygon in state coordinates (the units of
            the state entries the points are made of), counter-clockwise or clockwise.
        points: (P, 2, n), P >= 1: the linear map of the state to each point kept out.
        margin: how far beyond the polygon's faces the points must stay (hard), >= 0, in state units.
        soft_margin: the band beyond that where the points pay for their depth, >= 0, in state units.

    Checked with the problem that holds it (PlanningProblem.validate).
    """

    vertices: np.ndarray
    points: np.ndarray
    margin: float = 0.0
    soft_margin: float = 0.0

    @staticmethod
    def of_entries(vertices, entries, state_dim: int, margin: float = 0.0, soft_margin: float = 0.0) -> Obstacle:
        """An obstacle for the points made of state entries: `entries` (P, 2) holds (x index, y index) of each."""
        return Obstacle(np.asarray(vertices, dtype=np.float64), point_maps(entries, state_dim), margin, soft_margin)

    def faces(self) -> tuple[np.ndarray, np.ndarray]:
        """(normals (F, 2), offsets (F,)): the unit outward normal a_f of every face (F = V) and b_f + margin +
        soft_margin, where the depth starts.

        Assumes vertices in order, in either orientation.
        """
        vertices = self.vertices if _signed_area(self.vertices) > 0 else self.vertices[::-1]
        edges = np.roll(vertices, -1, axis=0) - vertices
        normals = np.stack([edges[:, 1], -edges[:, 0]], axis=1) / np.linalg.norm(edges, axis=1, keepdims=True)
        return normals, np.sum(normals * vertices, axis=1) + self.margin + self.soft_margin

    def face_rows(self) -> np.ndarray:
        """(P, F, n): row (p, f) maps a state x to a_f . (points[p] @ x)."""
        normals, _ = self.faces()
        return np.einsum("fj,pjn->pfn", normals, self.points)

    def check(self, state_dim: int) -> None:
        """ProblemError unless the obstacle is well formed for states of `state_dim` entries."""
        vertices, points = self.vertices, self.points
        if vertices.ndim != 2 or vertices.shape[1] != 2 or vertices.shape[0] < 3:
            raise ProblemError(f"obstacle vertices must be (V, 2) with V >= 3, got shape {vertices.shape}")
        if points.ndim != 3 or points.shape[0] < 1 or points.shape[1:] != (2, state_dim):
            raise ProblemError(f"obstacle points must be (P, 2, {state_dim}) with P >= 1, got shape {points.shape}")
        margins = np.array([self.margin, self.soft_margin])
        if not (np.all(np.isfinite(vertices)) and np.all(np.isfinite(points)) and np.all(np.isfinite(margins))):
            raise ProblemError("an obstacle holds non-finite values")
        if np.any(margins < 0):
            raise ProblemError(f"obstacle margins must be non-negative, got {self.margin} and {self.soft_margin}")
        # Convex, corners in order: every corner lies inside every face's half-plane (and no face has zero length).
        scale = 1e-9 * (1.0 + np.abs(vertices).max())
        lengths = np.linalg.norm(np.roll(vertices, -1, axis=0) - vertices, axis=1)
        message = "obstacle vertices must be the corners of a convex polygon, in order, with no repeated corner"
        if np.any(lengths <= scale) or abs(_signed_area(vertices)) <= scale:
            raise ProblemError(message)
        normals, offsets = dataclasses.replace(self, margin=0.0, soft_margin=0.0).faces()
        if np.any(vertices @ normals.T - offsets > scale):
            raise ProblemError(message)


def point_maps(entries, state_dim: int) -> np.ndarray:
    """(P, 2, n) linear maps selecting points made of state entries: `entries` (P, 2) holds (x index, y index)."""
    entries = np.asarray(entries, dtype=np.int64).reshape(-1, 2)
    points = np.zeros((len(entries), 2, state_dim))
    points[np.arange(len(entries))[:, None], [0, 1], entries] = 1.0
    return points


def _signed_area(vertices: np.ndarray) -> float:
    """Positive for counter-clockwise vertices (shoelace formula)."""
    x, y = vertices[:, 0], vertices[:, 1]
    return float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y) / 2)


@dataclass(kw_only=True)
class Task:
    """A planning problem without its state, goal and warm start: what stays fixed while a controller replans.

    Args:
        horizon: H, the number of actions planned (at least 1).
        action_low, action_high: the action box, shape (m,) each, in the env's action units.
        state_weights: L1 weights of |C x_t - goal| for t = 1..H-1, shape (k,), non-negative.
        terminal_weights: L1 weights of |C x_H - goal|, shape (k,), non-negative.
        action_weight: L1 weight of every |u_t| (cost units per action unit), non-negative.
        discount: the factor in (0, 1] on the goal and action weights of each step after the first: step
            t's (x_t, u_{t-1}; t = 1..H) are multiplied by discount^(t-1) (`step_discounts`); 1 (the
            default) prices every step by its weights alone. The obstacle penalty is not discounted.
        cost_matrix: C, shape (k, n), the linear cost features of a state (e.g. object keypoints,
            and the pusher's offset from the object's centre); None means the state itself.
        state_constraints: (G, h) with G of shape (r, n) and h of shape (r,), meaning
            G @ x_t <= h for t = 1..H; None means none. Only the MILP enforces them.
        workspace_low, workspace_high: a box on every state entry, shape (n,) each (from the env
            metadata; +-inf entries are unbounded); both None means no box. Only the MILP uses it:
            without it the MILP's state bounds grow over the horizon, and a program whose big-M values
            pass 1e6 is refused (`NumericsError`, mpc.milp.numerics).
        time_limit: the planning budget in seconds, positive and finite.
        obstacles: `Obstacle`s the points of the predicted states must stay out of at t = 1..H; they
            need a finite workspace box on every state entry their points use (the MILP's big-M).
        obstacle_weight: the hinge weight on every obstacle point's depth, cost units per unit of depth,
            per point and step (default OBSTACLE_WEIGHT = 20 per cm: a point 1 cm deep costs as much as
            20 cm of L1 goal distance at one step, more than cutting through an obstacle can gain);
            non-negative. All of the sampling planners' obstacle handling; for the MILP planners, only
            the soft band's cost (Obstacle).
        unobserved: state entries of the model that the env does not observe, after its observed ones (e.g.
            dynamics.disagreement's disagreement of two models), >= 0: `problem` appends as many zeros to the
            observed state; shapes above count them in n.

    A Task is checked when it becomes a problem (`problem`, PlanningProblem.validate).
    """

    horizon: int
    action_low: np.ndarray
    action_high: np.ndarray
    state_weights: np.ndarray
    terminal_weights: np.ndarray
    action_weight: float = 0.0
    discount: float = 1.0
    cost_matrix: np.ndarray | None = None
    state_constraints: tuple[np.ndarray, np.ndarray] | None = None
    workspace_low: np.ndarray | None = None
    workspace_high: np.ndarray | None = None
    time_limit: float = 1.0
    obstacles: tuple[Obstacle, ...] = ()
    obstacle_weight: float = OBSTACLE_WEIGHT
    unobserved: int = 0

    def problem(self, state: np.ndarray, goal: np.ndarray, warm_start: np.ndarray | None = None) -> PlanningProblem:
        """This task from the observed `state` (n - unobserved,) toward `goal` (k,), starting from `warm_start`
        (H, m) if given; the problem's state is `state` followed by `unobserved` zeros.

        Raises:
            ProblemError: see PlanningProblem.
        """
        task = {item.name: getattr(self, item.name) for item in fields(Task)}
        state = np.concatenate([np.asarray(state, dtype=np.float64).reshape(-1), np.zeros(self.unobserved)])
        return PlanningProblem(state=state, goal=goal, warm_start=warm_start, **task)

    def step_discounts(self, horizon: int | None = None) -> np.ndarray:
        """discount^t for t = 0..H-1, shape (H,): the factor on the goal and action weights of each step's cost
        (`step_costs` entry t: x_{t+1} and u_t); `horizon` in place of the task's where given."""
        return self.discount ** np.arange(self.horizon if horizon is None else horizon, dtype=np.float64)


@dataclass(kw_only=True)
class PlanningProblem(Task):
    """What to plan: a Task (horizon, action box, cost, constraints, time budget) from a state toward a goal.

    Args:
        state: the current state x_0, shape (n,).
        goal: the goal in cost-feature order, shape (k,): k = n without cost_matrix.
        warm_start: an action sequence to start from, shape (H, m); every planner clips it into the
            action box, so plans and objectives stay in the box; None means the centre of the box.
        horizon, action_low, action_high, state_weights, terminal_weights, action_weight, discount, cost_matrix,
        state_constraints, workspace_low, workspace_high, time_limit, obstacles, obstacle_weight, unobserved:
            see Task (`state` holds the unobserved entries).

    All arguments are keywords. Inputs are converted to float64 arrays.

    Raises:
        ProblemError: a shape that does not fit, a non-finite number (NaN anywhere; inf outside the
            workspace box), an empty action or workspace box, a negative weight, a discount outside
            (0, 1], a time limit that
            is not positive and finite, or only one side of the workspace box.
    """

    state: np.ndarray
    goal: np.ndarray
    warm_start: np.ndarray | None = None

    def __post_init__(self) -> None:
        as_vector = lambda value: np.asarray(value, dtype=np.float64).reshape(-1)  # noqa: E731
        self.state, self.goal = as_vector(self.state), as_vector(self.goal)
        self.action_low, self.action_high = as_vector(self.action_low), as_vector(self.action_high)
        self.state_weights, self.terminal_weights = as_vector(self.state_weights), as_vector(self.terminal_weights)
        if (self.workspace_low is None) != (self.workspace_high is None):
            raise ProblemError("give both workspace_low and workspace_high, or neither")
        if self.workspace_low is not None:
            self.workspace_low, self.workspace_high = as_vector(self.workspace_low), as_vector(self.workspace_high)
        if self.warm_start is not None:
            self.warm_start = np.asarray(self.warm_start, dtype=np.float64)
        if self.cost_matrix is not None:
            self.cost_matrix = np.asarray(self.cost_matrix, dtype=np.float64)
        self.obstacles = tuple(
            Obstacle(
                np.asarray(obstacle.vertices, dtype=np.float64),
                np.asarray(obstacle.points, dtype=np.float64),
                float(obstacle.margin),
                float(obstacle.soft_margin),
            )
            if isinstance(obstacle, Obstacle)
            else obstacle  # validate names what else it is
            for obstacle in self.obstacles
        )
        self.validate()

    @property
    def state_dim(self) -> int:
        return self.state.shape[0]

    @property
    def action_dim(self) -> int:
        return self.action_low.shape[0]

    @property
    def feature_dim(self) -> int:
        """Entries of the goal: state entries, or rows of cost_matrix."""
        return self.state_dim if self.cost_matrix is None else self.cost_matrix.shape[0]

    def cost_features(self, states):
        """C x for states (..., n), numpy or torch (on any device): shape (..., k)."""
        if self.cost_matrix is None:
            return states
        if isinstance(states, np.ndarray):
            return states @ self.cost_matrix.T
        import torch

        return states @ torch.as_tensor(self.cost_matrix, dtype=states.dtype, device=states.device).T

    def validate(self) -> None:
        """Check the problem on its own (planners check only that it fits their model).

        Called when the problem is made; call it again after changing a field in place.

        Raises:
            ProblemError: see the class docstring.
        """
        n, k = self.state_dim, self.feature_dim
        if self.horizon < 1:
            raise ProblemError(f"horizon must be at least 1, got {self.horizon}")
        if not 0 <= self.unobserved <= n:
            raise ProblemError(f"unobserved must count 0 to {n} state entries, got {self.unobserved}")
        if self.cost_matrix is not None and (self.cost_matrix.ndim != 2 or self.cost_matrix.shape[1] != n):
            raise ProblemError(f"cost_matrix must be (features, {n})")
        for name in ("goal", "state_weights", "terminal_weights"):
            if getattr(self, name).shape != (k,):
                raise ProblemError(f"{name} has {getattr(self, name).shape[0]} entries, the cost has {k} features")
        if self.workspace_low is not None:
            for name in ("workspace_low", "workspace_high"):
                if getattr(self, name).shape != (n,):
                    raise ProblemError(f"{name} has {getattr(self, name).shape[0]} entries, the state has {n}")
            if np.any(np.isnan(self.workspace_low)) or np.any(np.isnan(self.workspace_high)):
                raise ProblemError("the workspace box holds NaN")
            if np.any(self.workspace_low > self.workspace_high):
                raise ProblemError("the workspace box is empty (workspace_low > workspace_high)")
        if self.action_high.shape != self.action_low.shape:
            raise ProblemError("action_low and action_high differ in length")
        for name in (
            ("state", "goal", "action_low", "action_high", "state_weights", "terminal_weights")
            + (("cost_matrix",) if self.cost_matrix is not None else ())
            + (("warm_start",) if self.warm_start is not None else ())
        ):
            if not np.all(np.isfinite(getattr(self, name))):
                raise ProblemError(f"{name} holds non-finite values")
        if not np.isfinite(self.action_weight):
            raise ProblemError("action_weight is not finite")
        if np.any(self.action_low > self.action_high):
            raise ProblemError("the action box is empty (action_low > action_high)")
        if np.any(self.state_weights < 0) or np.any(self.terminal_weights < 0) or self.action_weight < 0:
            raise ProblemError("cost weights must be non-negative")
        if self.state_constraints is not None:
            matrix, rhs = self.state_constraints
            if np.ndim(matrix) != 2 or np.shape(matrix)[1] != n or np.shape(rhs) != (np.shape(matrix)[0],):
                raise ProblemError("state_constraints must be (G, h) with G of shape (m, state_dim) and h (m,)")
            if not (np.all(np.isfinite(matrix)) and np.all(np.isfinite(rhs))):
                raise ProblemError("state_constraints hold non-finite values")
        if not 0 < self.time_limit < np.inf:
            raise ProblemError("time_limit must be positive and finite (seconds)")
        if self.warm_start is not None and self.warm_start.shape != (self.horizon, self.action_dim):
            raise ProblemError(f"warm_start must have shape ({self.horizon}, {self.action_dim})")
        if not 0 < self.discount <= 1:
            raise ProblemError(f"discount must be in (0, 1], got {self.discount}")
        if not 0 <= self.obstacle_weight < np.inf:
            raise ProblemError("obstacle_weight must be non-negative and finite")
        for obstacle in self.obstacles:
            if not isinstance(obstacle, Obstacle):
                raise ProblemError(f"obstacles must be Obstacle instances, got a {type(obstacle).__name__}")
            obstacle.check(n)
            used = np.any(obstacle.points != 0, axis=(0, 1))
            if self.workspace_low is None or not (
                np.all(np.isfinite(self.workspace_low[used])) and np.all(np.isfinite(self.workspace_high[used]))
            ):
                raise ProblemError("obstacles need a finite workspace box on every state entry their points use")

    def keep_out(self) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """What the obstacles ask of every planned step t = 1..H, per obstacle: (rows (P, F, n), offsets (F,),
        limits (P,)).

        Point p's depth at x_t is min over f of (offsets[f] - rows[p, f] @ x_t) (Obstacle); it must stay at
        most limits[p] = soft_margin + s_p, with s_p = max(0, the point's depth in the start state minus
        soft_margin). A point that starts too deep (the controller observes states its model did not
        predict: pressed into an obstacle) may stay as deep as it starts, and no deeper; without this, one
        such state would leave the MILP no plan at all.
        """
        constraints = []
        for obstacle in self.obstacles:
            rows = obstacle.face_rows()
            _, offsets = obstacle.faces()
            start_depth = np.min(offsets - rows @ self.state, axis=-1)  # (P,)
            limits = obstacle.soft_margin + np.maximum(start_depth - obstacle.soft_margin, 0.0)
            constraints.append((rows, offsets, limits))
        return constraints

    def obstacle_depths(self, states):
        """Every obstacle point's depth (Obstacle) at steps 1..H of `states` (numpy or torch).

        Shapes:
            states (..., H+1, n) -> (..., H, Q), Q the points of all obstacles in order; Q = 0 without obstacles.
        """
        numpy = isinstance(states, np.ndarray)
        if not numpy:
            import torch
        depths = []
        for rows, offsets, _ in self.keep_out():
            if not numpy:
                rows, offsets = (torch.as_tensor(array, dtype=states.dtype) for array in (rows, offsets))
            projected = states[..., 1:, :] @ rows.reshape(-1, rows.shape[-1]).T  # (..., H, P * F)
            slack = offsets - projected.reshape(*projected.shape[:-1], *rows.shape[:2])  # (..., H, P, F)
            depths.append(slack.min(axis=-1) if numpy else slack.amin(dim=-1))
        if not depths:
            shape = (*states.shape[:-2], states.shape[-2] - 1, 0)
            return np.zeros(shape) if numpy else states.new_zeros(shape)
        return np.concatenate(depths, axis=-1) if numpy else torch.cat(depths, dim=-1)

    def predicts_collision(self, states: np.ndarray) -> bool | np.ndarray:
        """Whether predicted states take a point more than COLLISION_TOLERANCE beyond its limit (`keep_out`:
        into the polygon moved out by the hard margin, or deeper than it starts) at some step 1..H (the start
        state x_0 is observed, not predicted); False for non-finite states.

        Shapes:
            states (H+1, n) -> bool; a batch (..., H+1, n) -> bool array (...).
        """
        states = np.asarray(states, dtype=np.float64)
        if not self.obstacles:
            found = np.zeros(states.shape[:-2], dtype=bool)
        else:
            depths = self.obstacle_depths(states)  # (..., H, Q)
            limits = np.concatenate([limits for _, _, limits in self.keep_out()])
            excess = np.where(np.isnan(depths), -np.inf, depths - limits)
            found = excess.max(axis=(-2, -1), initial=-np.inf) > COLLISION_TOLERANCE
        return bool(found) if found.ndim == 0 else found


@dataclass
class Plan:
    """What every planner returns. Fields a planner has no notion of stay None.

    objective is the trajectory cost of (states, actions) in cost units; status is one of
    PLAN_STATUSES (see the module docstring); wall_time and build_time are in seconds.
    """

    actions: np.ndarray  # (H, action_dim)
    states: np.ndarray  # (H + 1, state_dim), predicted by the planner's model
    objective: float
    status: str  # PLAN_STATUSES
    wall_time: float
    best_bound: float | None = None
    gap: float | None = None
    node_count: int | None = None
    build_time: float | None = None
    binaries: int | None = None
    extras: dict = field(default_factory=dict)


def trajectory_cost(problem: PlanningProblem, states: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """Cost of batched trajectories (see the module docstring), in the dtype and on the device of `states`.

    Shapes:
        states (B, H+1, n), actions (B, H, m) -> costs (B,).
    """
    return step_costs(problem, states, actions).sum(dim=1)


def step_costs(problem: PlanningProblem, states: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """The cost of batched trajectories by step (`trajectory_cost` summed over the steps): entry t holds the
    weighted goal distance of x_{t+1} (the terminal weights at t = H-1) and the action cost of u_t, both times
    discount^t, and the obstacle penalty of x_{t+1}.

    Shapes:
        states (B, H+1, n), actions (B, H, m) -> costs (B, H).
    """
    import torch

    goal, weights, terminal = (
        torch.as_tensor(values, dtype=states.dtype, device=states.device)
        for values in (problem.goal, problem.state_weights, problem.terminal_weights)
    )
    by_step = torch.cat([weights.expand(states.shape[1] - 2, -1), terminal[None]])  # (H, k)
    costs = ((problem.cost_features(states[:, 1:]) - goal).abs() * by_step).sum(dim=2)
    if problem.action_weight:
        costs = costs + problem.action_weight * actions.abs().sum(dim=2)
    if problem.discount != 1:
        costs = costs * torch.as_tensor(
            problem.step_discounts(states.shape[1] - 1), dtype=costs.dtype, device=costs.device
        )
    if not problem.obstacles:
        return costs
    return costs + problem.obstacle_weight * problem.obstacle_depths(states).clamp(min=0.0).sum(dim=2)
