"""A sampled plan screened against the obstacles: where it predicts a collision, the cheapest of the sampler's
elites whose rollout keeps out.

The sampling planners price an obstacle by the hinge penalty (mpc.problem.trajectory_cost), so their
cheapest sequence may still take a point past its hard limit, while the program forbids it. Where a MILP
planner hands back a sampled plan (its program held no plan in the budget) or warm-starts the program from
one, a sequence that keeps out is worth more than a cheaper one that does not.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from dynamics.frozen import FrozenGraph, FrozenNetwork, rollout
from mpc.problem import Plan, PlanningProblem, trajectory_cost


def clear_of_obstacles(
    problem: PlanningProblem, network: FrozenNetwork | FrozenGraph, sampled: Plan, elites: list[np.ndarray]
) -> Plan:
    """`sampled` as it is unless it predicts a collision (PlanningProblem.predicts_collision); then `sampled`
    with the actions of the cheapest of `elites` whose rollout on `network` predicts none, that rollout and
    its trajectory cost, or `sampled` itself if every elite predicts one.

    Shapes:
        elites: a list of (E, H, m) arrays (e.g. every sampling round's extras["elites"]).
    """
    import torch

    if not problem.obstacles or not elites or not problem.predicts_collision(sampled.states):
        return sampled
    candidates = np.concatenate(elites)
    states = rollout(network, problem.state, candidates)
    clear = ~problem.predicts_collision(states)
    if not clear.any():
        return sampled
    candidates, states = candidates[clear], states[clear]
    costs = trajectory_cost(problem, torch.from_numpy(states), torch.from_numpy(candidates)).numpy()
    cheapest = int(np.argmin(costs))
    return dataclasses.replace(
        sampled, actions=candidates[cheapest], states=states[cheapest], objective=float(costs[cheapest])
    )
