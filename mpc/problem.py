"""Planning problems and plans: the seam between the controller and every planner.

Every planner, mixed-integer or sampling, takes a PlanningProblem and returns a Plan. The cost
is linear so the MILP can hold it exactly, and it is evaluated by `trajectory_cost` for every
planner alike:

    cost = sum_{t=1}^{H-1} state_weights . |C x_t - goal|
           + terminal_weights . |C x_H - goal|
           + action_weight * sum_{t=0}^{H-1} |u_t|_1

C is the optional `cost_matrix` (k, state_dim) of linear cost features, the identity if absent;
goal and both weight vectors have one entry per feature.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from mpc.errors import ProblemError


@dataclass
class PlanningProblem:
    """What to plan: start, goal, horizon, action box, cost weights, constraints, time budget.

    cost_matrix, if given, maps a state to the k features the cost compares with the goal
    (e.g. object keypoints, and the pusher's offset from the object's centre).
    state_constraints, if given, is a pair (G, h) meaning G @ x_t <= h for t = 1..H.
    workspace_low/high bound every state entry (from the env metadata); None means unbounded.
    warm_start is an (H, action_dim) action sequence inside the action box.
    """

    state: np.ndarray
    goal: np.ndarray
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
    warm_start: np.ndarray | None = None

    def __post_init__(self) -> None:
        as_vector = lambda value: np.asarray(value, dtype=np.float64).reshape(-1)  # noqa: E731
        self.state, self.goal = as_vector(self.state), as_vector(self.goal)
        self.action_low, self.action_high = as_vector(self.action_low), as_vector(self.action_high)
        self.state_weights, self.terminal_weights = as_vector(self.state_weights), as_vector(self.terminal_weights)
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
        """C x for states (..., n), numpy or torch."""
        if self.cost_matrix is None:
            return states
        if isinstance(states, torch.Tensor):
            return states @ torch.as_tensor(self.cost_matrix, dtype=states.dtype).T
        return states @ self.cost_matrix.T

    def validate(self) -> None:
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
        if self.action_high.shape != self.action_low.shape:
            raise ProblemError("action_low and action_high differ in length")
        for name in ("state", "goal", "action_low", "action_high", "state_weights", "terminal_weights") + (
            ("cost_matrix",) if self.cost_matrix is not None else ()
        ):
            if not np.all(np.isfinite(getattr(self, name))):
                raise ProblemError(f"{name} holds non-finite values")
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
        if self.time_limit <= 0:
            raise ProblemError("time_limit must be positive")
        if self.warm_start is not None and self.warm_start.shape != (self.horizon, self.action_dim):
            raise ProblemError(f"warm_start must have shape ({self.horizon}, {self.action_dim})")


@dataclass
class Plan:
    """What every planner returns. Fields a planner has no notion of stay None."""

    actions: np.ndarray  # (H, action_dim)
    states: np.ndarray  # (H + 1, state_dim), predicted by the planner's model
    objective: float
    status: str
    wall_time: float
    best_bound: float | None = None
    gap: float | None = None
    node_count: int | None = None
    build_time: float | None = None
    binaries: int | None = None
    extras: dict = field(default_factory=dict)


def trajectory_cost(problem: PlanningProblem, states: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """Cost of batched trajectories: states (B, H+1, n), actions (B, H, m) -> (B,)."""
    goal = torch.as_tensor(problem.goal, dtype=states.dtype)
    weights = torch.as_tensor(problem.state_weights, dtype=states.dtype)
    terminal = torch.as_tensor(problem.terminal_weights, dtype=states.dtype)
    distance = (problem.cost_features(states[:, 1:]) - goal).abs()
    running = (distance[:, :-1] * weights).sum(dim=(1, 2))
    final = (distance[:, -1] * terminal).sum(dim=1)
    effort = problem.action_weight * actions.abs().sum(dim=(1, 2))
    return running + final + effort
