"""Planning problems and plans: the seam between the controller and every planner.

Every planner, mixed-integer or sampling, takes a PlanningProblem and returns a Plan. The cost
is linear so the MILP can hold it exactly, and it is evaluated by `trajectory_cost` for every
planner alike:

    cost = sum_{t=1}^{H-1} state_weights . |C x_t - goal|
           + terminal_weights . |C x_H - goal|
           + action_weight * sum_{t=0}^{H-1} |u_t|_1

C is the optional `cost_matrix` (k, state_dim) of linear cost features, the identity if absent;
goal and both weight vectors have one entry per feature.

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

from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING

import numpy as np

from mpc.errors import ProblemError

if TYPE_CHECKING:  # torch is imported where a cost is computed, so reading a problem stays light
    import torch

OPTIMAL, TIME_LIMIT, STOPPED = "optimal", "time_limit", "stopped"
BUDGET = "budget"
SAMPLED, FALLBACK = "sampled", "fallback"
PLAN_STATUSES = (OPTIMAL, TIME_LIMIT, STOPPED, BUDGET, SAMPLED, FALLBACK)


@dataclass(kw_only=True)
class Task:
    """A planning problem without its state, goal and warm start: what stays fixed while a controller replans.

    Args:
        horizon: H, the number of actions planned (at least 1).
        action_low, action_high: the action box, shape (m,) each, in the env's action units.
        state_weights: L1 weights of |C x_t - goal| for t = 1..H-1, shape (k,), non-negative.
        terminal_weights: L1 weights of |C x_H - goal|, shape (k,), non-negative.
        action_weight: L1 weight of every |u_t| (cost units per action unit), non-negative.
        cost_matrix: C, shape (k, n), the linear cost features of a state (e.g. object keypoints,
            and the pusher's offset from the object's centre); None means the state itself.
        state_constraints: (G, h) with G of shape (r, n) and h of shape (r,), meaning
            G @ x_t <= h for t = 1..H; None means none. Only the MILP enforces them.
        workspace_low, workspace_high: a box on every state entry, shape (n,) each (from the env
            metadata; +-inf entries are unbounded); both None means no box. Only the MILP uses it.
        time_limit: the planning budget in seconds, positive and finite.

    A Task is checked when it becomes a problem (`problem`, PlanningProblem.validate).
    """

    horizon: int
    action_low: np.ndarray
    action_high: np.ndarray
    state_weights: np.ndarray
    terminal_weights: np.ndarray
    action_weight: float = 0.0
    cost_matrix: np.ndarray | None = None
    state_constraints: tuple[np.ndarray, np.ndarray] | None = None
    workspace_low: np.ndarray | None = None
    workspace_high: np.ndarray | None = None
    time_limit: float = 1.0

    def problem(self, state: np.ndarray, goal: np.ndarray, warm_start: np.ndarray | None = None) -> PlanningProblem:
        """This task from `state` (n,) toward `goal` (k,), starting from `warm_start` (H, m) if given.

        Raises:
            ProblemError: see PlanningProblem.
        """
        task = {item.name: getattr(self, item.name) for item in fields(Task)}
        return PlanningProblem(state=state, goal=goal, warm_start=warm_start, **task)


@dataclass(kw_only=True)
class PlanningProblem(Task):
    """What to plan: a Task (horizon, action box, cost, constraints, time budget) from a state toward a goal.

    Args:
        state: the current state x_0, shape (n,).
        goal: the goal in cost-feature order, shape (k,): k = n without cost_matrix.
        warm_start: an action sequence to start from, shape (H, m); every planner clips it into the
            action box, so plans and objectives stay in the box; None means the centre of the box.
        horizon, action_low, action_high, state_weights, terminal_weights, action_weight, cost_matrix,
        state_constraints, workspace_low, workspace_high, time_limit: see Task.

    All arguments are keywords. Inputs are converted to float64 arrays.

    Raises:
        ProblemError: a shape that does not fit, a non-finite number (NaN anywhere; inf outside the
            workspace box), an empty action or workspace box, a negative weight, a time limit that
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
        for name in ("state", "goal", "action_low", "action_high", "state_weights", "terminal_weights") + (
            ("cost_matrix",) if self.cost_matrix is not None else ()
        ) + (("warm_start",) if self.warm_start is not None else ()):
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
    import torch

    goal, weights, terminal = (torch.as_tensor(values, dtype=states.dtype, device=states.device)
                               for values in (problem.goal, problem.state_weights, problem.terminal_weights))
    distance = (problem.cost_features(states[:, 1:]) - goal).abs()
    running = (distance[:, :-1] * weights).sum(dim=(1, 2))
    final = (distance[:, -1] * terminal).sum(dim=1)
    effort = problem.action_weight * actions.abs().sum(dim=(1, 2))
    return running + final + effort
