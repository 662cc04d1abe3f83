"""LP tightening of a graph model's state boxes along the horizon.

Interval bounds through a graph step are loose: every object's box grows with the boxes of all
the nodes that send it messages. Step by step, each next-state entry is minimised and maximised
over the LP relaxation of the program up to that step (mpc.tightening's LP loop), and the
following step's interval bounds start from the tightened box. Per-neuron LPs, as for an MLP,
would mean one LP per switching ReLU of every edge copy; the state boxes carry most of the gain.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from dynamics.frozen import FrozenGraph
from mpc.bounds import RolloutBounds, intersect, stack_copies
from mpc.graph_bounds import GraphBounds, graph_step_bounds
from mpc.horizon import build_horizon_program
from mpc.problem import PlanningProblem
from mpc.tightening import lp_ranges


def graph_lp_rollout_bounds(graph: FrozenGraph, problem: PlanningProblem, threads: int = 1,
                            deadline: float = np.inf) -> RolloutBounds:
    """Linear bounds (mpc.graph_bounds) with every state box LP-tightened, in step order until `deadline`
    (a time.perf_counter() value)."""
    workspace_low, workspace_high = problem.workspace_low, problem.workspace_high
    if workspace_low is None:
        workspace_low, workspace_high = np.full(graph.state_dim, -np.inf), np.full(graph.state_dim, np.inf)
    state_low, state_high = [problem.state], [problem.state]
    edges, nodes = [], []
    for step in range(problem.horizon):
        edge, node, low, high = graph_step_bounds(
            graph, state_low[-1], state_high[-1], problem.action_low, problem.action_high,
            workspace_low, workspace_high, step, linear=True,
        )  # fmt: skip
        edges.append(edge)
        nodes.append(node)
        if time.perf_counter() < deadline:
            prefix = RolloutBounds(
                np.stack(state_low + [low]), np.stack(state_high + [high]),
                GraphBounds(stack_copies(edges), stack_copies(nodes), step + 1),
            )  # fmt: skip
            program = build_horizon_program(
                graph, dataclasses.replace(problem, horizon=step + 1, warm_start=None), prefix
            ).program
            lp_low, lp_high = lp_ranges(program, program.state_columns[step + 1], threads, deadline)
            low, high = intersect(low, high, lp_low, lp_high)
        state_low.append(low)
        state_high.append(high)
    return RolloutBounds(
        np.stack(state_low), np.stack(state_high), GraphBounds(stack_copies(edges), stack_copies(nodes), problem.horizon)
    )
