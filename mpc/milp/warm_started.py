"""A MILP planner warm-started by a sampling planner within one time budget.

The sampling planner gets a share of the step's budget and starts from the problem's own warm
start (the previous plan, shifted); its best sequence then warm-starts the MILP, which gets the
rest of the budget. HiGHS keeps a feasible start as its first incumbent, so the result is never
worse on the model than the sampled plan: the MILP can only improve on it, up to proving it
optimal. If the MILP finds nothing in its share, or its program is infeasible (no plan keeps the
predicted states in the workspace box: a constraint only the MILP enforces), the sampled plan is
returned. With obstacles, where the sampled plan predicts a collision, the cheapest of the sampler's
elites (if it keeps any) that keeps out takes its place, as the MILP's start and as that fallback
(mpc.milp.screening): the program holds no plan that collides, so HiGHS would ignore such a start.
"""

from __future__ import annotations

import dataclasses
import time

from mpc.errors import InfeasibleError, NoIncumbentError
from mpc.milp.screening import clear_of_obstacles
from mpc.problem import Plan, PlanningProblem


class SamplingWarmStartedPlanner:
    def __init__(self, sampler, milp, sampling_share: float = 0.3) -> None:
        self.sampler = sampler
        self.milp = milp
        self.sampling_share = sampling_share

    def plan(self, problem: PlanningProblem) -> Plan:
        started = time.perf_counter()
        sampled = self.sampler.plan(dataclasses.replace(problem, time_limit=self.sampling_share * problem.time_limit))
        if problem.obstacles and "elites" in sampled.extras:
            sampled = clear_of_obstacles(problem, self.milp.network, sampled, [sampled.extras["elites"]])
        remaining = max(problem.time_limit - (time.perf_counter() - started), 0.05 * problem.time_limit)
        try:
            plan = self.milp.plan(dataclasses.replace(problem, time_limit=remaining, warm_start=sampled.actions))
        except (NoIncumbentError, InfeasibleError) as error:
            sampled.status = f"sampled (MILP: {error.__class__.__name__})"
            if getattr(self.milp, "data_ranges", False):  # how far the sampled plan leaves the MILP's data ranges
                sampled.extras.update(self.milp.data_range_extras(sampled.states, sampled.actions))
            plan = sampled
        plan.wall_time = time.perf_counter() - started
        plan.extras["sampled_objective"] = sampled.objective
        return plan
