"""Benchmarks of the MILP planner; each prints a table and writes JSON.

    python examples/bench_milp.py omlt --widths 8 16 --horizons 2 4 8 --json omlt.json
    python examples/bench_milp.py pushing --checkpoints runs/pushing --horizons 4 8 12 --json pushing.json

`omlt`: our encoding against OMLT (Pyomo's neural-network toolkit, `pip install .[bench]`) on
the same dense ReLU dynamics network (random weights, normalisation fitted to pushing-scale
data: 10 states in cm, 2 actions), horizon, input bounds and cost. Both get the same interval
bounds per step (OMLT through its network definition's input bounds) and the same HiGHS
options (one thread, same relative gap); OMLT is solved through Pyomo's appsi_highs.

`pushing`: the central curve on trained pushing models (dense.pt, relu64.pt, ... in the
checkpoint directory): binaries after bounds, solve time and gap at the time limit, with
interval and with LP-tightened bounds, on start/goal pairs sampled from the pushing env.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path

# One BLAS thread unless the caller chose otherwise, set before numpy loads its BLAS: the bounds
# multiply many tiny matrices, and on busy cores a second thread makes them many times slower.
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from dynamics.frozen import FrozenNetwork  # noqa: E402
from dynamics.mlp import MLPDynamics  # noqa: E402
from mpc.errors import MPCError, NoIncumbentError  # noqa: E402
from mpc.milp.highs import solve_program  # noqa: E402
from mpc.milp.horizon import build_horizon_program  # noqa: E402
from mpc.milp.planner import DEFAULT_BOUNDS, MILPPlanner  # noqa: E402
from mpc.problem import PlanningProblem  # noqa: E402

STATE_DIM, ACTION_DIM = 10, 2
ACTION_LIMIT = 2.5  # cm per step, as in the pushing env
WORKSPACE = 30.0  # cm


def dense_network(width: int, seed: int) -> FrozenNetwork:
    """A dense two-hidden-layer ReLU dynamics model with pushing-scale normalisation."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = MLPDynamics(STATE_DIM, ACTION_DIM, hidden=(width, width)).double().eval()
    states = rng.uniform(-20, 20, size=(2000, STATE_DIM))
    actions = rng.uniform(-ACTION_LIMIT, ACTION_LIMIT, size=(2000, ACTION_DIM))
    next_states = states + rng.normal(size=states.shape)
    model.fit_normalisation(*(torch.from_numpy(array) for array in (states, actions, next_states)))
    return model.export()


def synthetic_problem(horizon: int, seed: int, time_limit: float) -> PlanningProblem:
    rng = np.random.default_rng(seed + 1000)
    state = rng.uniform(-10, 10, STATE_DIM)
    return PlanningProblem(
        state=state,
        goal=state + rng.uniform(-5, 5, STATE_DIM),
        horizon=horizon,
        action_low=np.full(ACTION_DIM, -ACTION_LIMIT),
        action_high=np.full(ACTION_DIM, ACTION_LIMIT),
        state_weights=np.full(STATE_DIM, 0.1),
        terminal_weights=np.ones(STATE_DIM),
        action_weight=0.01,
        workspace_low=np.full(STATE_DIM, -WORKSPACE),
        workspace_high=np.full(STATE_DIM, WORKSPACE),
        time_limit=time_limit,
    )


def omlt_model(network: FrozenNetwork, problem: PlanningProblem, state_low: np.ndarray, state_high: np.ndarray):
    """The planning program written the OMLT way: one OmltBlock (ReLU big-M) per step, Pyomo links and cost."""
    import pyomo.environ as pyo
    from omlt import OmltBlock
    from omlt.neuralnet import NetworkDefinition, ReluBigMFormulation
    from omlt.neuralnet.layer import DenseLayer, InputLayer

    horizon, n, m = problem.horizon, problem.state_dim, problem.action_dim
    model = pyo.ConcreteModel()
    model.x = pyo.Var(range(horizon + 1), range(n), bounds=lambda _, t, i: (state_low[t, i], state_high[t, i]))
    model.u = pyo.Var(range(horizon), range(m), bounds=lambda _, t, j: (problem.action_low[j], problem.action_high[j]))
    model.net = OmltBlock(range(horizon))
    for step in range(horizon):
        input_low = np.concatenate([state_low[step], problem.action_low])
        input_high = np.concatenate([state_high[step], problem.action_high])
        definition = NetworkDefinition(scaled_input_bounds={k: (input_low[k], input_high[k]) for k in range(n + m)})
        previous = InputLayer([n + m])
        definition.add_layer(previous)
        for layer in network.layers:
            activation = "relu" if layer.relu.all() else "linear"
            if layer.relu.any() and not layer.relu.all():
                raise ValueError("the OMLT comparison needs dense layers: all ReLU or all linear")
            dense = DenseLayer(
                [layer.in_dim], [layer.out_dim], weights=layer.weight.T, biases=layer.bias, activation=activation
            )
            definition.add_layer(dense)
            definition.add_edge(previous, dense)
            previous = dense
        model.net[step].build_formulation(ReluBigMFormulation(definition))

    def inputs(t):
        return [model.x[t, i] for i in range(n)] + [model.u[t, j] for j in range(m)]

    model.inputs = pyo.Constraint(
        range(horizon), range(n + m), rule=lambda _, t, k: model.net[t].inputs[k] == inputs(t)[k]
    )
    model.outputs = pyo.Constraint(
        range(horizon),
        range(n),
        rule=lambda _, t, i: (
            model.x[t + 1, i]
            == model.net[t].outputs[i]
            + sum(network.skip[i, k] * inputs(t)[k] for k in range(n + m) if network.skip[i, k])
        ),
    )
    weights = np.vstack([np.tile(problem.state_weights, (horizon - 1, 1)), problem.terminal_weights])
    model.error = pyo.Var(range(horizon), range(n), domain=pyo.NonNegativeReals)
    model.error_above = pyo.Constraint(
        range(horizon), range(n), rule=lambda _, t, i: model.error[t, i] >= model.x[t + 1, i] - problem.goal[i]
    )
    model.error_below = pyo.Constraint(
        range(horizon), range(n), rule=lambda _, t, i: model.error[t, i] >= problem.goal[i] - model.x[t + 1, i]
    )
    model.size = pyo.Var(range(horizon), range(m), domain=pyo.NonNegativeReals)
    model.size_above = pyo.Constraint(range(horizon), range(m), rule=lambda _, t, j: model.size[t, j] >= model.u[t, j])
    model.size_below = pyo.Constraint(range(horizon), range(m), rule=lambda _, t, j: model.size[t, j] >= -model.u[t, j])
    model.cost = pyo.Objective(
        expr=sum(weights[t, i] * model.error[t, i] for t in range(horizon) for i in range(n))
        + problem.action_weight * sum(model.size[t, j] for t in range(horizon) for j in range(m))
    )
    return model


def solve_omlt(model, time_limit: float, mip_gap: float) -> dict:
    import pyomo.environ as pyo
    from pyomo.common.timing import HierarchicalTimer
    from pyomo.contrib.appsi.solvers import Highs

    solver = Highs()
    solver.config.time_limit = time_limit
    solver.config.mip_gap = mip_gap
    solver.config.load_solution = False
    solver.highs_options = {"threads": 1}
    timer = HierarchicalTimer()
    began = time.perf_counter()
    results = solver.solve(model, timer=timer)
    total = time.perf_counter() - began
    binaries = sum(1 for variable in model.component_data_objects(pyo.Var) if variable.is_binary())
    return {
        "status": str(results.termination_condition).split(".")[-1],
        "objective": results.best_feasible_objective,
        "best_bound": results.best_objective_bound,
        "solve_time": timer.get_total_time("optimize"),
        "translate_time": total - timer.get_total_time("optimize"),
        "binaries": binaries,
    }


BUILD_BUDGET = 0.2  # seconds: builds are timed as the best of as many calls as fit, at least 3 (as timeit does)


def best_time(build, budget: float = BUILD_BUDGET):
    """(result, shortest wall time) of calling build() at least 3 times and until `budget` seconds are spent."""
    times, result = [], None
    while len(times) < 3 or sum(times) < budget:
        began = time.perf_counter()
        result = build()
        times.append(time.perf_counter() - began)
    return result, min(times)


def solve_ours(network: FrozenNetwork, problem: PlanningProblem, bounds: str, mip_gap: float) -> dict:
    """Bounds, build and solve on the fast path, without a start (as OMLT gets none).

    As in the planner, bounds and assembly count against the time limit; HiGHS gets the rest.
    """
    planner = MILPPlanner(network, STATE_DIM, ACTION_DIM, bounds=bounds, mip_gap=mip_gap)
    began = time.perf_counter()
    rollout_bounds = planner.rollout_bounds(problem)
    bound_time = time.perf_counter() - began
    program, assembly_time = best_time(lambda: build_horizon_program(network, problem, rollout_bounds).program)
    if bounds == "interval":  # cheap enough to time as the best of several too
        bound_time = best_time(lambda: planner.rollout_bounds(problem))[1]
    build_time = bound_time + assembly_time
    record = {
        "bounds": bounds,
        "binaries": program.num_binaries,
        "bound_time": bound_time,
        "build_time": build_time,
        "state_low": rollout_bounds.state_low,
        "state_high": rollout_bounds.state_high,
    }
    began = time.perf_counter()
    try:
        result = solve_program(program, problem.time_limit - build_time, mip_gap, threads=1)
    except NoIncumbentError:
        return record | {"solve_time": time.perf_counter() - began, "objective": None, "best_bound": None,
                         "status": "no_incumbent"}  # fmt: skip
    return record | {
        "solve_time": result.solve_time,
        "objective": result.objective,
        "best_bound": result.best_bound,
        "status": result.status,
    }


def compare_with_omlt(width: int, horizon: int, time_limit: float, mip_gap: float, seed: int) -> dict:
    """Ours with interval bounds (the bounds OMLT gets), OMLT, and ours with the default bounds."""
    network = dense_network(width, seed)
    problem = synthetic_problem(horizon, seed, time_limit)
    ours = solve_ours(network, problem, "interval", mip_gap)
    state_low, state_high = ours.pop("state_low"), ours.pop("state_high")
    model, omlt_build = best_time(lambda: omlt_model(network, problem, state_low, state_high))
    omlt = {"build_time": omlt_build, **solve_omlt(model, time_limit, mip_gap)}
    default = solve_ours(network, problem, DEFAULT_BOUNDS, mip_gap)
    del default["state_low"], default["state_high"]
    return {
        "width": width,
        "horizon": horizon,
        "relus_per_step": network.relu_count,
        "seed": seed,
        "ours": ours,
        "omlt": omlt,
        "default": default,
    }


def _number(value: float | None) -> float:
    return float("nan") if value is None else value


def print_omlt_table(rows: list[dict]) -> None:
    """One line per network and problem: ours with OMLT's bounds, OMLT, then ours with the default bounds."""
    print(
        f"{'width':>5} {'H':>2} {'seed':>4} {'bin ours':>8} {'bin OMLT':>8} {'build ours':>10} {'build OMLT':>10} "
        f"{'ratio':>6} {'solve ours':>10} {'solve OMLT':>10} {'+transl.':>8} {'obj ours':>9} {'obj OMLT':>9} "
        f"{'status ours/OMLT':>23} | {'default: bin':>12} {'bounds':>7} {'solve':>7} {'obj':>9}"
    )
    for row in rows:
        ours, omlt, default = row["ours"], row["omlt"], row["default"]
        print(
            f"{row['width']:>5} {row['horizon']:>2} {row['seed']:>4} {ours['binaries']:>8} {omlt['binaries']:>8} "
            f"{ours['build_time'] * 1e3:>8.1f}ms {omlt['build_time']:>9.3f}s "
            f"{omlt['build_time'] / ours['build_time']:>5.0f}x "
            f"{ours['solve_time']:>9.2f}s {omlt['solve_time']:>9.2f}s {omlt['translate_time']:>7.2f}s "
            f"{_number(ours['objective']):>9.4f} {_number(omlt['objective']):>9.4f} "
            f"{ours['status'] + '/' + omlt['status']:>23} | {default['binaries']:>12} {default['bound_time']:>6.2f}s "
            f"{default['solve_time']:>6.2f}s {_number(default['objective']):>9.4f}"
        )


def _geometric_mean(values: list[float]) -> float:
    return float(np.exp(np.mean(np.log(values)))) if values else float("nan")


def print_omlt_summary(rows: list[dict]) -> None:
    """One line per size: build ratio range; solve time ratios to OMLT (geometric mean over the seeds where
    both were optimal, and how often ours was faster), for ours with OMLT's bounds and with the default
    bounds (solve alone, then with the LP tightening added); problems solved; largest optimum difference."""
    print(
        f"{'width':>5} {'H':>2} {'build ratio':>11} {'same bounds':>17} {'default':>17} {'default+bounds':>14} "
        f"{'solved ours/OMLT/default':>24} {'max obj diff':>12}"
    )
    for width, horizon in dict.fromkeys((row["width"], row["horizon"]) for row in rows):
        size = [row for row in rows if (row["width"], row["horizon"]) == (width, horizon)]
        builds = [row["omlt"]["build_time"] / row["ours"]["build_time"] for row in size]
        optimal = lambda record: record["status"] == "optimal"  # noqa: E731
        same = [row for row in size if optimal(row["ours"]) and optimal(row["omlt"])]
        default = [row for row in size if optimal(row["default"]) and optimal(row["omlt"])]
        ratios = [row["ours"]["solve_time"] / row["omlt"]["solve_time"] for row in same]
        default_ratios = [row["default"]["solve_time"] / row["omlt"]["solve_time"] for row in default]
        total_ratios = [
            (row["default"]["bound_time"] + row["default"]["solve_time"]) / row["omlt"]["solve_time"] for row in default
        ]
        differences = [
            abs(row[name]["objective"] - row["omlt"]["objective"]) / abs(row["omlt"]["objective"])
            for row in size
            for name in ("ours", "default")
            if optimal(row[name]) and optimal(row["omlt"])
        ]
        solved = "/".join(str(sum(optimal(row[name]) for row in size)) for name in ("ours", "omlt", "default"))
        print(
            f"{width:>5} {horizon:>2} {min(builds):>5.0f}-{max(builds):<4.0f}x "
            f"{_geometric_mean(ratios):>6.2f} ({sum(r < 1 for r in ratios):>2}/{len(ratios):<2} faster) "
            f"{_geometric_mean(default_ratios):>6.2f} "
            f"({sum(r < 1 for r in default_ratios):>2}/{len(default_ratios):<2} faster) "
            f"{_geometric_mean(total_ratios):>14.2f} {solved + f' of {len(size)}':>24} "
            f"{max(differences, default=float('nan')):>12.1e}"
        )


def pushing_problems(metadata: dict, data: Path, horizon: int, count: int, time_limit: float) -> list[PlanningProblem]:
    """Start states drawn from the training transitions (seeded), goals sampled by the env from each start.

    A drawn state the env refuses as a start (the pusher inside the object after a contact) is
    replaced by a further draw. The cost is the mean L1 distance of the object keypoints to the
    goal, a tenth of it per step.
    """
    from envs.dataset import load_transitions
    from envs.errors import EnvOptionsError
    from envs.pushing import ObjectPushingEnv

    observations = load_transitions(data).observations
    rng = np.random.default_rng(0)
    env = ObjectPushingEnv(**metadata["env_kwargs"])
    goal_indices = np.asarray(metadata["goal_indices"])
    weights = np.zeros(observations.shape[1])
    weights[goal_indices] = 1.0 / len(goal_indices)
    problems, rows = [], list(rng.choice(len(observations), size=count, replace=False))
    while len(problems) < count:
        row = rows.pop(0) if rows else rng.integers(len(observations))
        try:
            state, _ = env.reset(seed=len(problems), options={"state": observations[row]})
        except EnvOptionsError:
            continue
        goal = np.asarray(state, dtype=np.float64).copy()
        goal[goal_indices] = env.unwrapped.goal
        problems.append(
            PlanningProblem(
                state=state,
                goal=goal,
                horizon=horizon,
                action_low=metadata["action_low"],
                action_high=metadata["action_high"],
                state_weights=0.1 * weights,
                terminal_weights=weights,
                workspace_low=metadata["workspace_low"],
                workspace_high=metadata["workspace_high"],
                time_limit=time_limit,
            )
        )
    return problems


def pushing_curve(
    directory: Path,
    data: Path,
    names: list[str],
    horizons: list[int],
    modes: list[str],
    problems: int,
    time_limit: float,
    lp_budget: float,
) -> list[dict]:
    from dynamics.checkpoint import load_checkpoint

    rows = []
    for name in names:
        path = directory / f"{name}.pt"
        if not path.is_file():
            print(f"skipping {name}: {path} does not exist")
            continue
        checkpoint = load_checkpoint(path)
        network = checkpoint.model.export()
        for horizon in horizons:
            for mode in modes:
                action_dim = network.input_dim - network.output_dim
                planner = MILPPlanner(network, network.output_dim, action_dim, bounds=mode, lp_budget=lp_budget)
                runs = []
                for problem in pushing_problems(checkpoint.metadata, data, horizon, problems, time_limit):
                    try:
                        plan = planner.plan(problem)
                        runs.append(
                            {
                                "binaries": plan.binaries,
                                "bound_time": plan.extras["bound_time"],
                                "build_time": plan.build_time,
                                "solve_time": plan.extras["solve_time"],
                                "gap": plan.gap,
                                "status": plan.status,
                                "objective": plan.objective,
                            }
                        )
                    except MPCError as error:
                        runs.append({"status": type(error).__name__})
                rows.append(
                    {"model": name, "relus": network.relu_count, "horizon": horizon, "bounds": mode, "runs": runs}
                )
                print_pushing_row(rows[-1])
    return rows


PUSHING_HEADER = (
    f"{'model':>8} {'relus':>6} {'H':>3} {'bounds':>8} {'binaries':>8} {'bounds t':>9} {'solve t':>9} "
    f"{'optimal':>7} {'gap':>7} {'cost':>7}"
)


def print_pushing_row(row: dict) -> None:
    """Means over the start/goal pairs: binaries, times, gap at the time limit and plan cost on the model."""
    solved = [run for run in row["runs"] if "binaries" in run]
    mean = lambda key: float(np.mean([run[key] for run in solved])) if solved else float("nan")  # noqa: E731
    print(
        f"{row['model']:>8} {row['relus']:>6} {row['horizon']:>3} {row['bounds']:>8} {mean('binaries'):>8.1f} "
        f"{mean('bound_time'):>8.2f}s {mean('solve_time'):>8.2f}s "
        f"{sum(run['status'] == 'optimal' for run in row['runs']):>5}/{len(row['runs'])} "
        f"{mean('gap'):>7.3f} {mean('objective'):>7.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    omlt = commands.add_parser("omlt", help="our encoding against OMLT on dense ReLU networks")
    omlt.add_argument("--widths", type=int, nargs="+", default=[8, 16])
    omlt.add_argument("--horizons", type=int, nargs="+", default=[2, 4, 8])
    omlt.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="one network and problem per seed")
    pushing = commands.add_parser("pushing", help="binaries, solve time and gap on trained pushing models")
    pushing.add_argument("--checkpoints", type=Path, default=Path("runs/pushing"))
    pushing.add_argument("--models", nargs="+", default=["dense", "relu64", "relu32", "relu16", "relu8"])
    pushing.add_argument("--horizons", type=int, nargs="+", default=[4, 8, 12])
    pushing.add_argument(
        "--data", type=Path, default=Path("runs/pushing/data.npz"), help="transitions to draw starts from"
    )
    pushing.add_argument("--bounds", nargs="+", default=["interval", "linear", "lp"], help="bound modes to compare")
    pushing.add_argument("--problems", type=int, default=3, help="start/goal pairs per setting")
    pushing.add_argument("--lp-budget", type=float, default=0.25, help="LP tightening time, fraction of the time limit")
    for command in (omlt, pushing):
        command.add_argument("--time-limit", type=float, default=120.0)
        command.add_argument("--json", type=Path, help="write the results here")
    omlt.add_argument("--mip-gap", type=float, default=1e-6)
    args = parser.parse_args()

    if args.command == "omlt":
        logging.getLogger("pyomo").setLevel(logging.ERROR)  # OMLT initialises its variables outside their bounds
        warm_up = dense_network(4, 0), synthetic_problem(1, 0, 1.0)  # imports and first-call costs, not timed
        omlt_model(*warm_up, np.zeros((2, STATE_DIM)), np.ones((2, STATE_DIM)))
        rows = []
        for width in args.widths:
            for horizon in args.horizons:
                for seed in args.seeds:
                    rows.append(compare_with_omlt(width, horizon, args.time_limit, args.mip_gap, seed))
                    print_omlt_table(rows[-1:])
        print()
        print_omlt_table(rows)
        print()
        print_omlt_summary(rows)
    else:
        print(PUSHING_HEADER)
        rows = pushing_curve(
            args.checkpoints, args.data, args.models, args.horizons, args.bounds, args.problems, args.time_limit,
            args.lp_budget,
        )  # fmt: skip
    if args.json:
        args.json.write_text(
            json.dumps(
                {"command": args.command, "args": vars(args) | {"json": str(args.json)}, "rows": rows},
                indent=1,
                default=str,
            )
        )


if __name__ == "__main__":
    main()
