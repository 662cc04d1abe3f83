"""The anytime MILP planner: sampled starts, exact descent over linear regions, branch-and-bound for the bound.

Branch-and-bound on the planning program of a sparse model rarely leaves the root node within a
control step: the big-M relaxation of a horizon of ReLU networks is weak, so HiGHS neither closes
the gap nor improves a warm start in a fraction of a second (docs/milp.md). The same program is,
however, an exact local optimiser: with its binaries fixed to an activation pattern it is a linear
program over the actions (mpc.milp.region). The anytime planner spends one budget in three parts:

1. sampling: the sampling planners (`samplers`, by turns: gradient descent, CEM, MPPI in the default
   `milp`) run for `sampling_share` of the budget (at most `round_time` seconds) from the best plan so
   far (at first the problem's warm start, e.g. the shifted previous plan) and hand back their elites
   (`Plan.extras["elites"]`): the cheapest sequences CEM and MPPI evaluated, the cheapest point of each
   of gradient descent's paths (one per start: its paths end in as many basins of the model's cost as
   they reached, where the region descents go on exactly; see docs/benchmarks.md);
2. region descent: from the warm start and from every elite whose activation pattern is new, cheapest
   first, `RegionSearch.descend` walks over linear regions to a local optimum of the program; after
   each round's elites, one constant sequence (`constant_sequences`: the same action at every step,
   towards a corner or a face of the action box), cheapest first, as a start far from the samplers'
   (their elites gather in one basin, and the program's local optima are many);
   1 and 2 repeat while time remains (a descent starts only while the time left exceeds the shortest region LP
   so far: on the largest programs one LP takes most of a budget, and the rest goes to sampling; a sampling
   round only where one iteration of its sampler fits, as long as its last round's iterations took, since
   a sampler's first iteration runs whatever its budget);
   (optional, `local_branching=k`) local branching: branch-and-bound over the patterns within k flipped
   binaries of the best plan's (mpc.milp.local_branching), again from each better plan it finds;
3. branch-and-bound: the full program, started from the best plan, for the last `exact_share` of the
   budget: it may still improve the plan, and it gives the plan a proven lower bound and gap. HiGHS
   sets a MIP up (its root LP among others) before it looks at its time limit, 15-65 ms on the suite's
   programs: the planner keeps how far its last branch-and-bound ran past its limit (`exact_lag`) and
   runs the next one only where the time left is at least twice that, with the lag taken off its limit.

With `trust_region=d` the search stays near the first sampling round's plan: every region LP, line search
and the final branch-and-bound keep each action entry within d of it (a trust region on the actions, the
program's action columns bounded), and the descents start from that plan and from its sampler's elites
clipped into the region, cheapest first; no further round runs. The sampler picks the basin, the program
finds the best plan near it (a refinement of a sampled plan; "milp+mppi-trust" in examples/bench_planners.py).
The warm start is then only the sampler's start (the plan is never worse than that round's plan, not
necessarily than the warm start), and branch-and-bound's bound holds inside the region only, so the plan's
best_bound is 0.

The plan is never worse on the model than the warm start or any sampled sequence whose linear region
is feasible (its predicted states stay in the workspace box and the state constraints, and keep out
of the obstacles), nor than the best sequence sampled: where the program gave nothing cheaper, the
plan is that sample (status "sampled (MILP: ...)"). Where the program is slow to build or solve (a
large graph: a region LP can take longer than a round), the sampler gets what is left of the budget,
never more.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from dynamics.frozen import FrozenGraph, FrozenNetwork
from mpc.errors import InfeasibleError, NoIncumbentError, ProblemError
from mpc.milp.highs import presolve_pays, solve_program
from mpc.milp.local_branching import local_branching_program
from mpc.milp.planner import MILPPlanner
from mpc.milp.program import FEASIBLE
from mpc.milp.region import RegionOptimum, RegionSearch
from mpc.milp.screening import clear_of_obstacles
from mpc.problem import SAMPLED, TIME_LIMIT, Plan, PlanningProblem

DEFAULT_ANYTIME_BOUNDS = "linear"  # region LPs are exact with any bounds; linear ones paid most, see docs/milp.md


def constant_sequences(problem: PlanningProblem, horizon_program) -> np.ndarray:
    """Constant action sequences towards the corners and face centres of the action box, cheapest first.

    The action centre + s * (half-width * d) at every step, for every d in {-1, 0, 1}^m but 0 (for a
    pusher's velocity, m = 2: the 8 compass directions) and s in (1, 0.5); zero-width entries stay at
    their value. Ordered by the objective of their rollout in the program (`horizon_program.primal_point`).

    Shapes:
        (S, H, m), S = 2 (3^m - 1).
    """
    low, high = problem.action_low, problem.action_high
    centre, half = (low + high) / 2, (high - low) / 2
    m = centre.size
    directions = np.array(np.meshgrid(*[[-1.0, 0.0, 1.0]] * m, indexing="ij")).reshape(m, -1).T
    directions = directions[np.abs(directions).sum(axis=1) > 0]
    actions = np.concatenate([centre + scale * half * directions for scale in (1.0, 0.5)])
    sequences = np.repeat(actions[:, None, :], problem.horizon, axis=1)
    program = horizon_program.program
    costs = [program.objective(horizon_program.primal_point(sequence)) for sequence in sequences]
    return sequences[np.argsort(costs, kind="stable")]


class AnytimeMILPPlanner:
    """Sampling for starts, region LPs for exact local descent, HiGHS branch-and-bound for the bound.

    Args:
        network: the model's frozen export (seam 2), MLP or graph.
        state_dim, action_dim: n and m of the problems it plans.
        samplers: planners whose plans carry `extras["elites"]` (E, H, m), e.g.
            `[MPPIPlanner(model, elites=32)]` on the torch model the network was exported from; the
            sampling rounds take them in turn.
        bounds: bound mode of the program (see MILPPlanner); the region LPs are exact whatever the
            bounds, tighter ones only strengthen branch-and-bound's lower bound.
        sampling_share: fraction of the budget each sampling round gets.
        round_time: seconds each sampling round gets at most (besides `sampling_share`).
        exact_share: fraction of the budget kept for branch-and-bound at the end.
        starts_per_round: the cheapest elites of each round descended from; None (default): all of them.
        constant_starts: descend from one constant sequence (`constant_sequences`) after each round, cheapest
            first; False: the samplers' elites and the warm start only.
        extrapolate: the region descents' line search beyond each region optimum (mpc.milp.region.RegionSearch.descend).
        local_branching: k of the local branching phase (mpc.milp.local_branching: branch-and-bound over
            the patterns within k flipped binaries of the best plan's, repeated while it improves); None
            (default): no such phase.
        local_branching_share: fraction of the budget the local branching phase gets, before
            branch-and-bound.
        trust_region: d in action units: after the first sampling round, the search keeps every action entry
            within d of that round's plan (see the module docstring); None (default): the whole action box.
        mip_gap, threads: HiGHS's relative gap and thread count.
        cut_rounds: rounds of ideal single-neuron cuts (mpc.milp.cuts) added to the program of the final
            branch-and-bound, in at most half of the time left for it; 0 (default): none.
        highs_options: further HiGHS options for every branch-and-bound (mpc.milp.highs.new_highs).
        data_ranges: cut the program's neuron bounds to the network's data ranges (off by default, not sound:
            see MILPPlanner; the region LPs and branch-and-bound then search only plans whose neurons stay
            within them, and the program is not exact on the model outside them); extras then hold
            "outside_data_ranges" of the returned plan, whichever part found it.

    Raises:
        ProblemError: the network does not map [state, action] to the next state, or data_ranges on a
            network without data ranges.
    """

    def __init__(
        self,
        network: FrozenNetwork | FrozenGraph,
        state_dim: int,
        action_dim: int,
        samplers,
        bounds: str = DEFAULT_ANYTIME_BOUNDS,
        sampling_share: float = 0.5,
        round_time: float = 0.5,
        exact_share: float = 0.1,
        starts_per_round: int | None = None,
        constant_starts: bool = True,
        extrapolate: bool = True,
        local_branching: int | None = None,
        local_branching_share: float = 0.3,
        trust_region: float | None = None,
        mip_gap: float = 1e-4,
        threads: int = 1,
        cut_rounds: int = 0,
        highs_options: dict | None = None,
        data_ranges: bool = False,
    ) -> None:
        self.exact = MILPPlanner(
            network,
            state_dim,
            action_dim,
            bounds=bounds,
            mip_gap=mip_gap,
            threads=threads,
            cut_rounds=cut_rounds,
            highs_options=highs_options,
            data_ranges=data_ranges,
        )
        self.samplers = tuple(samplers)
        self.sampling_share, self.round_time, self.exact_share = sampling_share, round_time, exact_share
        self.starts_per_round, self.constant_starts, self.extrapolate = starts_per_round, constant_starts, extrapolate
        self.local_branching, self.local_branching_share = local_branching, local_branching_share
        if trust_region is not None and not 0 < trust_region < np.inf:
            raise ProblemError(f"trust_region must be a positive number of action units, got {trust_region}")
        self.trust_region = trust_region
        self.exact_lag = 0.0  # seconds the last branch-and-bound ran past its time limit
        self.iteration_time: dict[int, float] = {}  # sampler index -> seconds per iteration in its last round

    def plan(self, problem: PlanningProblem) -> Plan:
        """Plan within problem.time_limit: bounds, assembly, sampling, region LPs and branch-and-bound together.

        The returned states are the network's rollout of the returned actions, the objective their
        trajectory cost; extras hold "rounds" (sampling rounds), "descents", "region_lps",
        "sampled_objective" (the best sampled sequence), "region_objective" and "data_ranges" (with them,
        "outside_data_ranges").

        Raises:
            ProblemError: the problem does not fit the model.
            NumericsError: the program is out of HiGHS's reliable range (mpc.milp.numerics), e.g. no workspace box.
            NoIncumbentError: neither the samples' regions nor branch-and-bound held a feasible plan
                and the sampler found none either (never in practice: the sampler always returns one).
        """
        began = time.perf_counter()
        deadline = began + problem.time_limit
        reserve = self.exact_share * problem.time_limit  # for branch-and-bound, while it looks affordable
        try:
            horizon_program = self.exact.build(problem)
        except InfeasibleError as error:  # no plan keeps the model in the workspace: sampling is all there is
            return self._sampled(problem, self._sample_until(problem, deadline), type(error).__name__, began, [])
        program = horizon_program.program
        search = RegionSearch(horizon_program, self.exact.threads, self.extrapolate)

        def exact_fits(time_left: float) -> bool:
            # Branch-and-bound starts with the LP relaxation of the whole program, dearer than a region LP and
            # deaf to the time limit until it is set up: where not even two of the slowest region LPs or twice
            # the last branch-and-bound's lag fit in the time left, it is skipped.
            return time_left > 2 * max(search.slowest_lp, self.exact_lag)

        def explore_until() -> float:  # the reserve goes to the search too where branch-and-bound will not fit
            return deadline - (reserve if exact_fits(reserve) else 0.0)

        def sample_until() -> float:  # sampling rounds and region descents; then local branching, if any
            share = 0.0 if self.local_branching is None else self.local_branching_share
            return explore_until() - share * problem.time_limit

        best: RegionOptimum | None = None
        seen: set[bytes] = set()
        rounds = descents = neighbourhoods = 0
        sampled = None
        elites: list[np.ndarray] = []  # every round's, for a fallback that keeps out of the obstacles

        def descend_from(actions: np.ndarray) -> None:
            nonlocal best, descents
            pattern = search.pattern(actions)
            key = np.packbits(pattern).tobytes()
            if key in seen:
                return
            seen.add(key)
            descents += 1
            optimum = search.descend(actions, sample_until(), pattern)
            if optimum is not None and (best is None or optimum.objective < best.objective):
                best = optimum

        if problem.warm_start is not None and self.trust_region is None:
            descend_from(np.clip(problem.warm_start, problem.action_low, problem.action_high))
        constants = None  # the constant sequences not descended yet, made when the first round is over
        while time.perf_counter() < sample_until():
            turn = rounds % len(self.samplers)
            share = min(self.sampling_share * problem.time_limit, self.round_time, sample_until() - time.perf_counter())
            # A sampler's first iteration runs whatever its budget: no round starts without the time of one (its own
            # last, or, before it has sampled, the slowest of the others').
            if share < self.iteration_time.get(turn, max(self.iteration_time.values(), default=0.0)):
                break
            rounds += 1
            # Each sampler in turn; every other cycle of them starts from the warm start instead of the best plan.
            cycle = (rounds - 1) // len(self.samplers)
            start = problem.warm_start if best is None or cycle % 2 else best.values[program.action_columns]
            plan = self.samplers[turn].plan(dataclasses.replace(problem, time_limit=max(share, 1e-3), warm_start=start))
            self.iteration_time[turn] = plan.wall_time / max(plan.extras.get("iterations", 1), 1)
            sampled = plan if sampled is None or plan.objective < sampled.objective else sampled
            elites.append(plan.extras["elites"])
            starts = plan.extras["elites"][: self.starts_per_round]
            if self.trust_region is not None:  # from here on the search stays near this plan
                low = np.maximum(plan.actions - self.trust_region, problem.action_low)
                high = np.minimum(plan.actions + self.trust_region, problem.action_high)
                near = program.with_column_bounds(program.action_columns, low, high)
                horizon_program = dataclasses.replace(horizon_program, program=near)
                program = near
                search = RegionSearch(horizon_program, self.exact.threads, self.extrapolate)
                starts = np.clip(np.concatenate([plan.actions[None], starts]), low, high)
            for actions in starts:
                if not search.lp_fits(sample_until()):  # then the next round samples instead
                    break
                descend_from(actions)
            if self.trust_region is not None:
                break
            if self.constant_starts and search.lp_fits(sample_until()):
                if constants is None:
                    constants = list(constant_sequences(problem, horizon_program))
                if constants:
                    descend_from(constants.pop(0))

        # The cheapest sampled sequence is a plan of the program where it keeps to it (predicted states in the
        # workspace box, state constraints and obstacles' hard limits): a plan even if time ran out before its region.
        if sampled is not None:
            point = horizon_program.primal_point(np.clip(sampled.actions, problem.action_low, problem.action_high))
            if program.violation(point) <= FEASIBLE and (best is None or program.objective(point) < best.objective):
                best = search.optimum_at(point, program.objective(point))

        def branch_and_bound(restricted, time_limit: float):  # from the best plan, if any
            start = None if best is None else best.values
            return solve_program(
                restricted,
                time_limit,
                self.exact.mip_gap,
                self.exact.threads,
                start,
                presolve_pays(program),
                self.exact.highs_options,
            )

        # Local branching: branch-and-bound over the k-flip neighbours of the best plan's pattern, again
        # from each better plan it finds, until a neighbourhood holds nothing better or time runs out.
        while self.local_branching is not None and best is not None:
            left = explore_until() - time.perf_counter()
            if left <= 2 * search.slowest_lp:
                break
            try:
                found = branch_and_bound(local_branching_program(program, best.values, self.local_branching), left)
            except (NoIncumbentError, InfeasibleError):
                break
            neighbourhoods += 1
            if found.objective >= best.objective - 1e-9 * (1.0 + abs(best.objective)):
                break
            best = search.optimum_at(found.values, found.objective)

        result = cuts = None
        failure = NoIncumbentError.__name__
        remaining = deadline - time.perf_counter()
        if exact_fits(remaining):
            try:
                final, cuts = self.exact.with_cuts(horizon_program, deadline - remaining / 2)
                started = time.perf_counter()
                limit = deadline - started - self.exact_lag
                result = branch_and_bound(final, limit)
                self.exact_lag = max(time.perf_counter() - started - limit, 0.0)
            except (NoIncumbentError, InfeasibleError) as error:
                failure = type(error).__name__
        if best is None and result is None:
            return self._sampled(problem, sampled or self._sample_until(problem, deadline), failure, began, elites)
        if best is None or (result is not None and result.objective < best.objective):
            values, status = result.values, result.status
        else:
            values, status = best.values, TIME_LIMIT if result is None else result.status
        actions, states, objective = self.exact.replay(problem, program, values)
        if sampled is not None:  # the best sample, on the network, where the program held nothing cheaper
            sampled_values = np.zeros(program.num_columns)
            sampled_values[program.action_columns] = sampled.actions
            replayed = self.exact.replay(problem, program, sampled_values)
            # ... and where it keeps out of the obstacles: the hinge prices a collision, the program forbids it.
            if replayed[2] < objective and not problem.predicts_collision(replayed[1]):
                (actions, states, objective), status = replayed, f"{SAMPLED} (MILP: no better plan)"
        # The cost is a sum of weighted absolute values: 0 bounds it even before HiGHS has a bound of its own.
        # A sample the program holds nothing cheaper than may leave the workspace box: the program's bound
        # is then no bound on it, and 0 is all that is known.
        # In a trust region branch-and-bound bounds the plans inside it only.
        bound = (
            0.0
            if result is None or self.trust_region is not None or status.startswith(SAMPLED)
            else min(max(result.best_bound, 0.0), objective)
        )
        return Plan(
            actions=actions,
            states=states,
            objective=objective,
            status=status,
            wall_time=time.perf_counter() - began,
            best_bound=bound,
            gap=abs(objective - bound) / max(abs(objective), 1e-9),
            node_count=None if result is None else result.node_count,
            binaries=program.num_binaries,
            extras={
                "rounds": rounds,
                "descents": descents,
                "neighbourhoods": neighbourhoods,
                "region_lps": search.lp_count,
                "sampled_objective": None if sampled is None else sampled.objective,
                "region_objective": None if best is None else best.objective,
                **({} if cuts is None else cuts.record()),
                **self.exact.data_range_extras(states, actions),
            },
        )

    def _sample_until(self, problem: PlanningProblem, deadline: float) -> Plan:
        """A sampled plan in what is left of the budget until `deadline` (at least one sampling iteration)."""
        return self.samplers[0].plan(dataclasses.replace(problem, time_limit=max(deadline - time.perf_counter(), 1e-3)))

    def _sampled(
        self, problem: PlanningProblem, sampled: Plan, reason: str, began: float, elites: list[np.ndarray]
    ) -> Plan:
        """The sampled plan, when the program has no feasible point the search could reach (`reason`: the
        error); where it predicts a collision with an obstacle, the cheapest sequence of `elites` (each
        (E, H, m)) and its own elites whose rollout on the network keeps out, if one does
        (mpc.milp.screening)."""
        sampled = clear_of_obstacles(problem, self.exact.network, sampled, [*elites, sampled.extras["elites"]])
        sampled.status = f"{SAMPLED} (MILP: {reason})"
        sampled.extras["sampled_objective"] = sampled.objective
        sampled.extras.update(self.exact.data_range_extras(sampled.states, sampled.actions))
        sampled.wall_time = time.perf_counter() - began
        return sampled
