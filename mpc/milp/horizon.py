"""The planning program of a dynamics model (MLP or graph) over a horizon (seam 4 for seam 3's problem).

Columns x[t, i] (t = 0..H, x[0] fixed to the start state) and u[t, j] (t = 0..H-1, inside the
action box); the model is encoded once per step with input [x_t, u_t] and output tied to
x[t + 1] by its kind's formulation (mpc.milp.kinds: an MLP's network once per step, a graph model's
edge and node networks once per edge and node); the cost of `mpc.problem.trajectory_cost` is made
linear with auxiliary columns:

    c[t]    =  C x[t + 1]               cost features, if the problem has a cost_matrix C
    e[t, i] >= |c[t, i] - goal_i|       for features whose weight is non-zero (c = x without C)
    s[t, j] >= |u[t, j]|                if the action weight is non-zero

and the optional state constraints G x_t <= h (t = 1..H) are plain rows. Obstacles (keep given
points of x_t out of convex polygons, t = 1..H) are disjunctions over the polygons' faces, with one
binary per face, point and step (mpc.milp.obstacles).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dynamics.frozen import FrozenGraph, FrozenNetwork, rollout
from mpc.milp.bounds.boxes import RolloutBounds
from mpc.milp.formulation import AffineMap, NetworkEncoding
from mpc.milp.graph_formulation import GraphEncoding
from mpc.milp.kinds import model_kind
from mpc.milp.obstacles import ObstacleEncoding, encode_obstacles
from mpc.milp.program import MatrixProgram, ProgramBuilder
from mpc.problem import PlanningProblem


@dataclass(frozen=True)
class HorizonProgram:
    """The program plus where its dynamics, cost auxiliaries and obstacle binaries live."""

    program: MatrixProgram
    dynamics: NetworkEncoding | GraphEncoding
    problem: PlanningProblem
    obstacles: tuple[ObstacleEncoding, ...] = ()

    def primal_point(self, actions: np.ndarray) -> np.ndarray:
        """Every column's value when the actions are `actions` (H, m): a warm start for the solver."""
        blocks, problem = self.program.blocks, self.problem
        states = rollout(self.dynamics.network, problem.state, actions)
        values = np.zeros(self.program.num_columns)
        values[blocks["x"]] = states
        values[blocks["u"]] = actions
        self.dynamics.fill(values, np.concatenate([states[:-1], actions], axis=1))
        features = problem.cost_features(states[1:])
        if "cost_feature" in blocks:
            values[blocks["cost_feature"]] = features
        _fill_absolute(values, blocks["state_error"], features - problem.goal)
        if "action_size" in blocks:
            _fill_absolute(values, blocks["action_size"], actions)
        for obstacle in self.obstacles:
            obstacle.fill(values, states)
        return values


def _fill_absolute(values: np.ndarray, block: np.ndarray, amounts: np.ndarray) -> None:
    present = block >= 0
    values[block[present]] = np.abs(amounts[present])


def _add_absolute_values(
    builder: ProgramBuilder, name: str, columns: np.ndarray, centre: np.ndarray, weights: np.ndarray
) -> None:
    """Columns e >= |v - centre| for every position of `columns` with a non-zero weight, costed by weight."""
    present = weights > 0
    errors = builder.add_columns(name, present, 0.0, np.inf)[present]
    values, centre = columns[present], np.broadcast_to(centre, columns.shape)[present]
    builder.add_sum_rows([(errors, 1.0), (values, -1.0)], -centre, np.inf)  # e >= v - centre
    builder.add_sum_rows([(errors, 1.0), (values, 1.0)], centre, np.inf)  # e >= centre - v
    builder.add_cost(errors, weights[present])


def build_horizon_program(
    network: FrozenNetwork | FrozenGraph, problem: PlanningProblem, bounds: RolloutBounds
) -> HorizonProgram:
    """Assemble the MILP of seam 4 for `problem`, using `bounds` for the state boxes and big-M values.

    Args:
        network: the frozen dynamics model (an MLP or a graph model, mpc.milp.kinds).
        problem: the planning problem.
        bounds: bounds of its rollout (mpc.milp.bounds.rollout.rollout_bounds) over problem.horizon.

    Raises:
        ProblemError: `network` is not a frozen network or graph.
        InfeasibleError: the state box of some step keeps a point inside an obstacle.
    """
    horizon, n, m = problem.horizon, problem.state_dim, problem.action_dim
    builder = ProgramBuilder()
    states = builder.add_columns("x", np.ones((horizon + 1, n), dtype=bool), bounds.state_low, bounds.state_high)
    actions = builder.add_columns("u", np.ones((horizon, m), dtype=bool), problem.action_low, problem.action_high)
    inputs = np.concatenate([states[:-1], actions], axis=1)
    encode = model_kind(network).encode
    dynamics = encode(builder, network, AffineMap.of_columns(inputs), bounds.network, output_columns=states[1:])

    weights = np.tile(problem.state_weights, (horizon, 1))
    weights[-1] = problem.terminal_weights
    discounts = problem.step_discounts()[:, None]
    features = states[1:]
    if problem.cost_matrix is not None:
        features = builder.add_columns(
            "cost_feature", np.ones((horizon, problem.feature_dim), dtype=bool), -np.inf, np.inf
        )
        tie = AffineMap.of_columns(states[1:]).then_affine(problem.cost_matrix, 0.0) - AffineMap.of_columns(features)
        tie.constrain(builder, 0.0, 0.0)
    _add_absolute_values(builder, "state_error", features, problem.goal, discounts * weights)
    if problem.action_weight > 0:
        _add_absolute_values(
            builder, "action_size", actions, 0.0, discounts * np.full((horizon, m), problem.action_weight)
        )

    if problem.state_constraints is not None:
        matrix, rhs = problem.state_constraints
        constrained = AffineMap.of_columns(states[1:]).then_affine(np.asarray(matrix, dtype=np.float64), 0.0)
        constrained.constrain(builder, -np.inf, rhs)
    obstacles = encode_obstacles(builder, problem, states, bounds.state_low, bounds.state_high)
    return HorizonProgram(builder.build(), dynamics, problem, obstacles)
