"""LP tightening of a graph model's state boxes along the horizon.

Interval bounds through a graph step are loose: every object's box grows with the boxes of all
the nodes that send it messages. Step by step, each next-state entry is minimised and maximised
over the LP relaxation of the program up to that step (mpc.milp.bounds.lp's LP loop), and the
following step's interval bounds start from the tightened box. Per-neuron LPs, as for an MLP,
would mean one LP per switching ReLU of every edge copy; the state boxes carry most of the gain.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from dynamics.frozen import FrozenGraph
from mpc.milp.bounds.interval import RolloutBounds
from mpc.milp.bounds.graph import graph_rollout_bounds
from mpc.milp.horizon import build_horizon_program
from mpc.problem import PlanningProblem
from mpc.milp.bounds.lp import lp_ranges


def graph_lp_rollout_bounds(graph: FrozenGraph, problem: PlanningProblem, threads: int = 1,
                            deadline: float = np.inf) -> RolloutBounds:
    """Linear bounds (mpc.milp.bounds.graph) with every state box LP-tightened, in step order until `deadline`
    (a time.perf_counter() value)."""

    def tighten(step: int, prefix: RolloutBounds) -> tuple[np.ndarray, np.ndarray]:
        if time.perf_counter() > deadline:
            return np.full(graph.state_dim, -np.inf), np.full(graph.state_dim, np.inf)
        prefix_problem = dataclasses.replace(problem, horizon=step + 1, warm_start=None)
        program = build_horizon_program(graph, prefix_problem, prefix).program
        return lp_ranges(program, program.state_columns[step + 1], threads, deadline)

    return graph_rollout_bounds(
        graph, problem.state, problem.action_low, problem.action_high, problem.horizon,
        problem.workspace_low, problem.workspace_high, linear=True, tighten_state=tighten,
    )  # fmt: skip
