"""The sampling planners' common base: constructor, budget loop, best-so-far record, action box.

Every sampling planner (MPPI, CEM, random shooting, gradient descent) runs the same loop on a
torch dynamics model, and differs only in how it proposes candidates and learns from their costs:

    begin()                                   set up the search for one problem (hook)
    while the budget allows another iteration:
        actions = sample()                    K candidate sequences, (K, T, nu) (hook)
        costs, states = evaluate(actions)     one batched rollout of the model
        record the cheapest sequence so far   (only finite costs and states count)
        refit(actions, costs)                 learn from the costs (hook; skipped if none is finite)
    return the cheapest sequence evaluated, as a Plan with status "budget"
    (NonFiniteError if no sequence had a finite cost and finite predicted states)

Costs are `mpc.problem.trajectory_cost`: with obstacles in the problem, a hinge penalty on every
kept-out point's signed distance (Task.obstacle_weight per unit of depth, per point and step), as
MPPI users add obstacles to their cost. Nothing keeps a sampled sequence out of an obstacle but that
cost: the plan may predict a collision where every sequence evaluated does, or where cutting through
pays more than the penalty costs.

A variant subclasses SamplingPlanner and overrides those hooks, the way pytorch_mppi's variants
override small methods of one planner. During `plan` the problem and its action box are at hand
as `self.problem`, `self.low`, `self.high` and `self.width` (float32 tensors of shape (nu,), in
the env's action units); a warm start outside the box is clipped into it (`initial_sequence`), so
every sequence evaluated, the plan and its objective are in the box. All randomness comes from
`self.generator`, seeded once in the constructor, so a planner built with the same seed returns the
same plans bit for bit (given max_iterations; a wall-clock budget alone may stop at another iteration).

Model: a planner evaluates `dynamics.compact.compact(model)`, the hard-gated network of a sparsified
model with its removed neurons dropped (the network the MILP encodes), made when the planner is: the
same predictions up to float32 rounding, 1.5-2.5x more iterations per second than the full-width gated
layers on the planning suite's models on the CPU (examples/bench_sampling_speed.py, docs/sampling.md).

Device: a planner runs where its model is, or on the `device` it is given ("cpu", "cuda", "auto"),
with a copy of the model there: the samples (from a generator on that device), the rollouts and the costs
all stay there, and only the plan comes back to the CPU as numpy arrays. A seed gives the same plans
on the same device type; a GPU's generator draws other numbers than the CPU's, so its plans for a seed
differ (in the numbers, not in meaning). The default number of sequences per iteration depends on the
device (`DEFAULT_SAMPLES`: a GPU evaluates thousands in the time a CPU evaluates hundreds); pass
`samples` to choose it.

Notation: K sequences per iteration, T = problem.horizon steps, nu = problem.action_dim entries per
action, n = problem.state_dim.
"""

from __future__ import annotations

import copy
import time

import torch

from dynamics.compact import compact
from dynamics.device import model_device, resolve_device
from dynamics.evaluate import rollout
from mpc.errors import NonFiniteError
from mpc.problem import BUDGET, Plan, PlanningProblem, trajectory_cost
from mpc.sampling.defaults import DEFAULT_SAMPLES


def evaluate(
    model: torch.nn.Module, problem: PlanningProblem, actions: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Costs and predicted states of a batch of action sequences, in the dtype and on the device of `actions`.

    Shapes:
        actions (K, T, nu) -> costs (K,), states (K, T+1, n).
    """
    state = torch.as_tensor(problem.state, dtype=actions.dtype, device=actions.device)
    states = rollout(model, state, actions)
    return trajectory_cost(problem, states, actions), states


def action_box(
    problem: PlanningProblem, dtype: torch.dtype = torch.float32, device: torch.device | str | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The action box as tensors (low, high) on `device` (None: the CPU), each of shape (nu,), broadcastable
    over (K, T, nu)."""
    return (
        torch.as_tensor(problem.action_low, dtype=dtype, device=device),
        torch.as_tensor(problem.action_high, dtype=dtype, device=device),
    )


def initial_sequence(
    problem: PlanningProblem, dtype: torch.dtype = torch.float32, device: torch.device | str | None = None
) -> torch.Tensor:
    """The warm start clipped to the action box if the problem has one, else the centre of the box, shape (T, nu),
    on `device` (None: the CPU)."""
    low, high = action_box(problem, dtype, device)
    if problem.warm_start is not None:
        return torch.clamp(torch.as_tensor(problem.warm_start, dtype=dtype, device=device), low, high)
    return ((low + high) / 2).expand(problem.horizon, -1).clone()


class BestSoFar:
    """Keeps the lowest-cost action sequence a planner has evaluated, and builds its Plan.

    Args:
        elites: also keep the `elites` cheapest sequences evaluated (the plan's extras["elites"],
            starts for a local optimiser such as mpc.milp.anytime); 0 keeps none.
    """

    def __init__(self, elites: int = 0) -> None:
        self.cost = float("inf")
        self.actions: torch.Tensor | None = None
        self.states: torch.Tensor | None = None
        self.evaluated = 0
        self.elites = elites
        self.elite_actions: torch.Tensor | None = None
        self.elite_costs: torch.Tensor | None = None

    def update(self, costs: torch.Tensor, actions: torch.Tensor, states: torch.Tensor) -> None:
        """Shapes: costs (K,), actions (K, T, nu), states (K, T+1, n); ties keep the earlier sequence.

        A sequence counts only if its cost and its predicted states are all finite.
        """
        self.evaluated += costs.shape[0]
        finite = torch.isfinite(costs) & torch.isfinite(states).flatten(1).all(dim=1)
        costs = torch.where(finite, costs, torch.inf)
        best = int(torch.argmin(costs))
        if float(costs[best]) < self.cost:
            self.cost = float(costs[best])
            self.actions = actions[best].detach().clone()
            self.states = states[best].detach().clone()
        if self.elites:
            if self.elite_costs is not None:
                costs, actions = torch.cat([self.elite_costs, costs]), torch.cat([self.elite_actions, actions])
            keep = torch.topk(costs, min(self.elites, costs.shape[0]), largest=False).indices  # sorted, cheapest first
            self.elite_costs, self.elite_actions = costs[keep].detach(), actions[keep].detach().clone()

    def plan(self, started: float, iterations: int) -> Plan:
        """The record as a float64 Plan (numpy arrays, whatever the device) with status "budget"; `started` is a
        time.perf_counter() value.

        extras: "iterations", "sequences_evaluated", and with elites "elites" (E, T, nu) and
        "elite_costs" (E,), cheapest first (only sequences with a finite cost).

        Raises:
            NonFiniteError: no sequence evaluated had a finite cost and finite predicted states.
        """
        if self.actions is None:
            raise NonFiniteError(
                f"none of the {self.evaluated} action sequences evaluated in {iterations} "
                "iteration(s) has a finite cost: the model predicts non-finite states, or the cost "
                "overflows"
            )
        extras = {"iterations": iterations, "sequences_evaluated": self.evaluated}
        if self.elites:
            finite = torch.isfinite(self.elite_costs)
            extras |= {
                "elites": self.elite_actions[finite].cpu().double().numpy(),
                "elite_costs": self.elite_costs[finite].cpu().double().numpy(),
            }
        return Plan(
            actions=self.actions.cpu().double().numpy(),
            states=self.states.cpu().double().numpy(),
            objective=self.cost,
            status=BUDGET,
            wall_time=time.perf_counter() - started,
            extras=extras,
        )


class Budget:
    """Wall-clock budget for an iterative planner: stop before an iteration would overrun it.

    Args:
        seconds: the time budget, from now.
        max_iterations: stop after this many iterations as well; None means time alone decides.
    """

    def __init__(self, seconds: float, max_iterations: int | None) -> None:
        self.started = time.perf_counter()
        self.deadline = self.started + seconds
        self.max_iterations = max_iterations
        self.iterations = 0
        self.slowest = 0.0
        self._last = self.started

    def another(self) -> bool:
        """True while one more iteration fits; the first iteration always runs."""
        now = time.perf_counter()
        if self.iterations:
            self.slowest = max(self.slowest, now - self._last)
        self._last = now
        if self.max_iterations is not None and self.iterations >= self.max_iterations:
            return False
        if self.iterations and now + self.slowest > self.deadline:
            return False
        self.iterations += 1
        return True


class SamplingPlanner:
    """A planner that evaluates batches of action sequences on a torch dynamics model.

    Subclasses override `sample` and, where they learn from costs, `begin` and `refit` (see the
    module docstring). The plan is the cheapest sequence evaluated, within problem.time_limit
    seconds (the first iteration always runs) and at most `max_iterations` iterations.

    Args:
        model: the dynamics, called as model(state, action) on batches: state (K, n) and
            action (K, nu) -> next state (K, n), as `dynamics.evaluate.rollout` runs it. A model with
            gated MLPs (MLPDynamics, GraphDynamics) is evaluated as `dynamics.compact.compact(model)`: a
            snapshot of its hard-gated network (eval mode) with the removed neurons dropped.
        samples: K, the number of sequences evaluated per iteration; None: the class's
            `default_samples` for the device (DEFAULT_SAMPLES: 256 on the CPU, 4096 on a GPU).
        seed: seeds the planner's own torch.Generator on the device (global torch RNG state is not touched).
        max_iterations: an iteration cap on top of the time budget; None means time alone decides.
        elites: E, how many of the cheapest sequences evaluated the plan hands back in
            extras["elites"] (E, T, nu), cheapest first; 0 (default) keeps none.
        device: where the planner runs: "cpu", "cuda" (or "cuda:N"), "auto" (cuda if available) or a
            torch.device; a model elsewhere is copied there (the caller's model stays where it is). None
            (default): where the model is (its first parameter or buffer; the CPU for a module without either).

    Shapes (in `plan`):
        problem.state (n,), problem.warm_start (T, nu) -> Plan.actions (T, nu), Plan.states (T+1, n).

    Raises:
        ProblemError: from PlanningProblem, when the problem is made (the sampling planners take any
            state the model takes: they do not check dimensions themselves).
        NonFiniteError: from `plan`, when no sequence evaluated had a finite cost.
        DeviceError: from the constructor, for a CUDA device torch cannot use.
    """

    #: Whether `plan` runs with autograd on (a planner that differentiates through the model).
    differentiable = False
    #: K when `samples` is not given, by device type.
    default_samples = DEFAULT_SAMPLES

    def __init__(
        self,
        model: torch.nn.Module,
        samples: int | None = None,
        seed: int = 0,
        max_iterations: int | None = None,
        elites: int = 0,
        device: str | torch.device | None = None,
    ) -> None:
        self.device = model_device(model) if device is None else resolve_device(device)
        model = compact(model)  # the hard-gated network with its removed neurons dropped: same function, faster
        self.model = model if model_device(model) == self.device else copy.deepcopy(model).to(self.device)
        self.samples = (
            self.default_samples.get(self.device.type, self.default_samples["cpu"]) if samples is None else samples
        )
        self.max_iterations = max_iterations
        self.elites = elites
        self.generator = torch.Generator(device=self.device).manual_seed(seed)

    def plan(self, problem: PlanningProblem) -> Plan:
        """The cheapest sequence found within the problem's budget, with status "budget".

        Plan.extras hold "iterations" and "sequences_evaluated".
        """
        with torch.set_grad_enabled(self.differentiable):
            budget = Budget(problem.time_limit, self.max_iterations)
            self.problem = problem
            self.low, self.high = action_box(problem, device=self.device)
            self.width = self.high - self.low
            self.best = BestSoFar(self.elites)
            self.begin()
            while budget.another():
                actions = self.sample()
                costs = self.consider(actions)
                if torch.isfinite(costs).any():
                    self.refit(actions, costs)
            return self.best.plan(budget.started, budget.iterations)

    # Hooks a variant overrides.

    def begin(self) -> None:
        """Set up the search for `self.problem` (e.g. a mean from `initial_sequence()`); default: nothing."""

    def sample(self) -> torch.Tensor:
        """This iteration's candidate sequences, (K, T, nu), inside the action box."""
        raise NotImplementedError

    def refit(self, actions: torch.Tensor, costs: torch.Tensor) -> None:
        """Learn from this iteration's candidates (K, T, nu) and their costs (K,), at least one finite, the
        others +inf; default: nothing."""

    # Helpers for the hooks.

    def consider(self, actions: torch.Tensor) -> torch.Tensor:
        """Evaluate sequences (K, T, nu), record the cheapest, and return their costs (K,), +inf where a
        cost is not finite."""
        costs, states = evaluate(self.model, self.problem, actions)
        self.best.update(costs.detach(), actions.detach(), states.detach())
        return torch.where(torch.isfinite(costs), costs, torch.inf)

    def initial_sequence(self) -> torch.Tensor:
        """The warm start clipped to the action box, or the centre of the box: (T, nu)."""
        return initial_sequence(self.problem, device=self.device)

    def uniform(self, count: int) -> torch.Tensor:
        """`count` sequences drawn uniformly from the action box: (count, T, nu)."""
        shape = (count, self.problem.horizon, self.problem.action_dim)
        return self.low + torch.rand(shape, generator=self.generator, device=self.device) * self.width

    def gaussian(self, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
        """K sequences mean + std * N(0, 1), clipped to the action box; the first is `mean` itself.

        Shapes:
            mean (T, nu), std broadcastable to (T, nu), in action units -> (K, T, nu).
        """
        noise = torch.randn((self.samples, *mean.shape), generator=self.generator, device=self.device)
        noise[0] = 0.0  # always evaluate the mean itself
        return torch.clamp(mean + noise * std, self.low, self.high)
