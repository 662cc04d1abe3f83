"""How far each planner's plans promise more than the simulator gives: planned against realised cost, in closed loop.

    python examples/bench_model_gap.py --out runs/bench_model_gap                  # about 10 minutes
    python examples/bench_model_gap.py --budget 2 --episodes 10 --out runs/bench_model_gap_2s

Every planner runs the closed loop of `sparsedyn control` (the receding-horizon controller, its first-step
warm start, the default task) on the held-out episodes SEED, SEED+1, ... of the model's env, one planner
after the other, 1 torch thread. At every step the whole plan (H actions) is also run open loop in a
second copy of the env, reset to the step's observation and goal (`reset(options={"state", "goal"})`:
the object at rest in the pose its keypoints give), and both trajectories are priced by the same cost
(`mpc.problem.trajectory_cost`; each step's share too, `step_costs`):

- planned: the cost of the model's predicted states (the plan's objective, but for a disagreement's price);
- realised: the cost of the states the simulator gives for the same actions.

A planner that exploits the model's error finds plans whose planned cost is low and whose realised cost is
not: its realised / planned ratio is the larger.

`--world model` runs the same closed loop with the model as the world: every step's next state is the
model's prediction (`ModelWorld`, priced by the env's own `task_cost`), the env only gives the episode's
start, goal and obstacles. Nothing is left of the model's error (realised = planned up to float32 rounding), so the
final costs compare the planners as optimisers alone, in closed loop: what an exact planner gains where the
model were right. Planners are named as in bench_planners.py, variants
included (e.g. `milp+ranges`: the MILP's neuron bounds cut to the model's recorded data ranges).

Reported per planner: the final task cost (median), the sums of planned and realised cost over all steps
and their ratio, the median per-step ratio, the mean absolute error of the predicted states (after
one step and over the horizon), in state units, the fraction of planned action entries at the action
box's bounds (within 1% of its width), and the replanning change (how far each plan departs from the
previous one where they overlap, mean absolute action difference: a receding-horizon loop carries out
only first actions, so plans that change every step are not carried out as planned); and per episode, in
how many the first planner's realised / planned ratio is above each other planner's (in the model world both
are 1 up to rounding, and this count is noise) and its final cost below.

`--shadow PLANNER` compares plans on the same states: at every step of each planner's loop, PLANNER also plans
from the step's state (its own controller and warm starts; its actions are not taken) and its plan is replayed
too; the step's record holds its figures as "shadow", and the table adds, per planner, the mean planned and
realised cost of both planners' plans on those states, in how many steps each promised and gave less, and the
realised cost of each plan's first step alone (the action the loop carries out).

`--disagreement MODEL2` plans on the pair of models (`dynamics.disagreement.DisagreementDynamics`: the
first's predictions, paying `--disagreement-weight` per cm of the second's disagreement with them on the goal
entries); the world, the replay and both costs stay the first model's and the env's.

`--terminal-weight`, `--action-weight` and `--discount` change the plans' cost as in `sparsedyn control`; the
planned and realised costs are priced with it too.

`--env-kwargs` runs another form of the model's env (e.g. `'{"obstacles": 2}'`: the task keeps out of the
episode's obstacles as `sparsedyn control` does).

With more than one planner the table also says, per episode (same seeds), where the first planner's loop is
ahead: its final cost below each other's, and its task cost below and above theirs at steps 3, 6, ..., 25 of the
loop (the rest are ties, e.g. an object neither loop has touched yet).

`--compare DIR1 DIR2 ...` runs nothing and prints that table for earlier runs' OUT folders together (runs
made one planner per process, side by side, on the same seeds and number of steps; folders of different last
names, which name the planners; each run's sums are priced by its own task, e.g. its --discount):

    python examples/bench_model_gap.py --planners milp --out runs/gap/milp      # beside, on the other core:
    python examples/bench_model_gap.py --planners mppi --out runs/gap/mppi
    python examples/bench_model_gap.py --compare runs/gap/milp runs/gap/mppi

Writes OUT/bench_model_gap.json (the settings; per episode the final cost, the task cost after every step
("cost_curve", the start's first), success, the number of obstacles, the steps with a collision in the
simulator, and every step's figures, the plan's objective and actions among them) and OUT/bench_model_gap.md
(the table, also printed).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import gymnasium  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_planners import planner_options, planner_spec  # noqa: E402  (planner names with variants: milp+ranges)

CHECKPOINTS = Path(__file__).resolve().parent / "checkpoints"


class ModelWorld(gymnasium.Wrapper):
    """An env whose transitions are a dynamics model's predictions: reset is the wrapped env's (its start
    state, goal and task cost), every step the model's next state from the current one (float32, as the
    model's own calls), priced by the env's `task_cost`.

    Shapes: observations (n,), actions (m,), as the wrapped env's.
    """

    def __init__(self, env: gymnasium.Env, model: torch.nn.Module):
        super().__init__(env)
        self.model, self.state, self.obstacles = model, None, None

    def reset(self, **kwargs):
        self.state, info = self.env.reset(**kwargs)
        self.obstacles = info.get("obstacles")
        return self.state, info

    def step(self, action):
        with torch.no_grad():
            predicted = self.model(torch.as_tensor(self.state)[None], torch.as_tensor(action)[None])[0]
        self.state = predicted.numpy()
        cost = self.env.unwrapped.task_cost(self.state)
        info = {"cost": cost} if self.obstacles is None else {"cost": cost, "obstacles": self.obstacles}
        return self.state, -cost, False, False, info


def episode(
    checkpoint,
    metadata: dict,
    planner_name: str,
    settings,
    seed: int,
    world: str = "simulator",
    planning_model: torch.nn.Module | None = None,
    shadow_name: str | None = None,
) -> dict:
    """One closed-loop episode (`mpc.control.runner.run_episode`); every step's plan also replayed open loop in a
    twin env, or by the model where the model is the world (`ModelWorld`). The planners plan on `planning_model`
    (None: the checkpoint's model), e.g. a pair's `DisagreementDynamics` with `settings.disagreement_weight`; the
    world, the replay and the planned and realised costs are the checkpoint's model's and the env's task alone
    (`observed_task`). With `shadow_name`, that planner also plans from every step's state (its own controller, its
    own warm starts; its actions are not taken), and each step's record holds its plan's figures as "shadow"."""
    import envs  # noqa: F401  (registers the environments)
    from dynamics.evaluate import rollout
    from envs.collect import make_env
    from mpc.control.controller import RecedingHorizonController
    from mpc.control.runner import run_episode
    from mpc.control.task import control_task, goal_features, observed_task
    from mpc.planners import graph_objects, make_fallback_planner, make_planner
    from mpc.problem import step_costs

    def priced(plan, task, state, goal) -> dict:
        """The plan's figures: its objective, planned and realised cost (in all and by step), prediction errors,
        actions at bound, and its actions."""
        if world == "model":
            with torch.no_grad():
                start, actions = torch.as_tensor(state).float(), torch.as_tensor(plan.actions)[None].float()
                realised = rollout(checkpoint.model, start, actions)[0].double().numpy()
        else:
            replayed, _ = twin.reset(seed=seed, options=replay_options(env, state))
            realised = [replayed.astype(np.float64)]
            for planned_action in plan.actions:
                replayed, *_ = twin.step(planned_action.astype(np.float32))
                realised.append(replayed.astype(np.float64))
            realised = np.array(realised)
        observed = observed_task(task)
        problem = observed.problem(state, goal_features(observed, env.unwrapped.goal))
        actions, predicted = torch.as_tensor(plan.actions)[None], plan.states[:, : len(state)]
        planned, cost = (
            step_costs(problem, torch.as_tensor(states)[None], actions)[0].tolist() for states in (predicted, realised)
        )
        return {
            "objective": float(plan.objective),
            "planned": sum(planned),
            "realised": sum(cost),
            "planned_steps": planned,
            "realised_steps": cost,
            "one_step_error": float(np.abs(predicted[1] - realised[1]).mean()),
            "horizon_error": float(np.abs(predicted - realised).mean()),
            "at_bound": float(at_bound(plan.actions, task)),
            "actions": plan.actions.tolist(),
        }

    class ReplayingController(RecedingHorizonController):
        """The controller, which also runs each plan it makes in the twin env from the step's state, and lets the
        shadow controller plan from the same state."""

        def reset(self):
            super().reset()
            if shadow is not None:
                shadow.task = self.task  # the episode's obstacles, where it has them
                shadow.reset()

        def act(self, state, goal):
            action, record = super().act(state, goal)
            step = priced(self.previous, self.task, state, goal)
            if shadow is not None:
                shadow.act(state, goal)
                step["shadow"] = priced(shadow.previous, shadow.task, state, goal)
            steps.append(step)
            return action, record

    num_objects = graph_objects(metadata)  # a graph model's MILP: on the env's objects
    model = checkpoint.model if planning_model is None else planning_model

    def controller_of(name: str, kind=RecedingHorizonController):
        name, options = planner_options(name)
        planner = make_planner(name, model, seed=seed, num_objects=num_objects, **options)
        return kind(planner, control_task(metadata, settings), make_fallback_planner(model, seed))

    shadow = None if shadow_name is None else controller_of(shadow_name)
    controller = controller_of(planner_name, ReplayingController)
    env = make_env(metadata["env_id"], metadata["env_kwargs"], max_episode_steps=None)
    if world == "model":  # the plans are replayed by the model itself: no twin
        env = ModelWorld(env, checkpoint.model)
    else:
        twin = make_env(metadata["env_id"], metadata["env_kwargs"], max_episode_steps=None)
    steps: list[dict] = []
    result = run_episode(env, controller, seed, settings.steps, settings=settings)
    env.close()
    if world != "model":
        twin.close()
    return {
        "planner": planner_name,
        "shadow": shadow_name,
        "seed": seed,
        "final_cost": result["final_cost"],
        "cost_curve": result["cost_curve"],
        "success": result["success"],
        "obstacles": len(result.get("obstacles", [])),
        "collision_steps": result["collision_steps"],
        "steps": steps,
    }


def replay_options(env: gymnasium.Env, state: np.ndarray) -> dict:
    """The reset options that put a twin of `env` in `state` with `env`'s goal and, where it has them, its
    obstacles (without them a pushing env with obstacles places new ones, and may find no room)."""
    options = {"state": state, "goal": env.unwrapped.goal}
    if getattr(env.unwrapped, "obstacles", None) is not None:
        options["obstacles"] = env.unwrapped.obstacles
    return options


def compared(folders: list[Path]) -> list[dict]:
    """The episodes of earlier runs' OUT folders, each planner named "planner (folder)" by the folder's last name.

    Raises:
        OSError: a folder without bench_model_gap.json; ValueError: one that is not JSON, two folders of one name,
            or runs on other seeds or of another number of steps than the first folder's.
        KeyError: a file without episodes or settings.
    """
    if len({folder.name for folder in folders}) < len(folders):
        raise ValueError("two folders have the same last name: give each run a folder of its own name")
    episodes, first = [], None  # first: the first folder's seeds and step count
    for folder in folders:
        record = json.loads((folder / "bench_model_gap.json").read_text())
        runs = record["episodes"]
        episodes.extend({**run, "planner": f"{run['planner']} ({folder.name})"} for run in runs)
        seeds, steps = sorted({run["seed"] for run in runs}), record["settings"]["steps"]
        if first is None:
            first = seeds, steps
        elif (seeds, steps) != first:
            raise ValueError(
                f"{folder} ran seeds {seeds[0]}-{seeds[-1]} of {steps} steps, the first folder "
                f"{first[0][0]}-{first[0][-1]} of {first[1]}"
            )
    return episodes


def at_bound(actions: np.ndarray, task) -> float:
    """Fraction of the action entries (H, nu) within 1% of the action box's width of its bounds."""
    tolerance = 0.01 * (task.action_high - task.action_low)
    return np.mean((actions <= task.action_low + tolerance) | (actions >= task.action_high - tolerance))


def replanning_changes(steps: list[dict]) -> list[float]:
    """How far each plan departs from the one before it, where they overlap: the mean absolute difference of its
    first H - 1 actions and the previous plan's last H - 1 (action units, cm), one per step after the first."""
    plans = [np.asarray(step["actions"]) for step in steps]
    return [float(np.abs(plan[:-1] - previous[1:]).mean()) for previous, plan in zip(plans, plans[1:])]


def table(episodes: list[dict]) -> str:
    lines = [
        "| planner | episodes | median final cost | planned (sum) | realised (sum) | realised / planned "
        "| median step ratio | one-step error | horizon error | actions at bound | replanning change |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in dict.fromkeys(run["planner"] for run in episodes):
        runs = [run for run in episodes if run["planner"] == name]
        steps = [step for run in runs for step in run["steps"]]
        planned, realised = (np.array([step[key] for step in steps]) for key in ("planned", "realised"))
        lines.append(
            f"| {name} | {len(runs)} | {statistics.median(run['final_cost'] for run in runs):.2f} "
            f"| {planned.sum():.0f} | {realised.sum():.0f} | {realised.sum() / planned.sum():.3f} "
            f"| {np.median(realised / planned):.3f} | {np.mean([s['one_step_error'] for s in steps]):.3f} "
            f"| {np.mean([s['horizon_error'] for s in steps]):.3f} "
            f"| {np.mean([s['at_bound'] for s in steps]):.2f} "
            f"| {np.mean([change for run in runs for change in replanning_changes(run['steps'])]):.3f} |"
        )
    names = list(dict.fromkeys(run["planner"] for run in episodes))
    ratios = {
        (run["planner"], run["seed"]): sum(s["realised"] for s in run["steps"])
        / sum(s["planned"] for s in run["steps"])
        for run in episodes
    }
    seeds = sorted({run["seed"] for run in episodes})
    finals = {(run["planner"], run["seed"]): run["final_cost"] for run in episodes}
    for other in names[1:]:  # per episode: the first planner's realised / planned and final cost against each other's
        above = sum(ratios[names[0], seed] > ratios[other, seed] for seed in seeds)
        lower = sum(finals[names[0], seed] < finals[other, seed] for seed in seeds)
        lines.append(f"\n{names[0]}'s realised / planned above {other}'s in {above} of {len(seeds)} episodes")
        lines.append(f"{names[0]}'s final cost below {other}'s in {lower} of {len(seeds)} episodes")
        lines.extend(along_the_loop(names[0], other, episodes))
    for name in names:
        lines.extend(same_state_lines([run for run in episodes if run["planner"] == name]))
    return "\n".join(lines)


ALONG_THE_LOOP = (3, 6, 9, 12, 15, 18, 21, 25)  # the control steps at which `along_the_loop` compares task costs


def along_the_loop(name: str, other: str, episodes: list[dict]) -> list[str]:
    """Where one loop takes the lead: at each step of ALONG_THE_LOOP, in how many episodes (same seeds) `name`'s
    task cost is below `other`'s and in how many above (the rest are ties: an object neither has touched yet), and
    both medians. Episodes recorded without cost curves (before they were kept)
    give no line, nor do loops shorter than 3 steps."""
    curves = {(run["planner"], run["seed"]): run.get("cost_curve") for run in episodes}
    seeds = sorted({run["seed"] for run in episodes})
    pairs = [(curves[name, seed], curves[other, seed]) for seed in seeds]
    if any(own is None or theirs is None for own, theirs in pairs):
        return []
    parts = []
    for step in ALONG_THE_LOOP:
        at = [(own[step], theirs[step]) for own, theirs in pairs if step < min(len(own), len(theirs))]
        if at:
            own, theirs = np.array(at).T
            parts.append(
                f"step {step}: {(own < theirs).sum()} / {(own > theirs).sum()} of {len(at)} "
                f"({np.median(own):.2f} / {np.median(theirs):.2f})"
            )
    if not parts:
        return []
    heading = f"{name}'s task cost below / above {other}'s along the loop (episodes; medians {name} / {other}): "
    return [heading + "; ".join(parts)]


def same_state_lines(runs: list[dict]) -> list[str]:
    """With a shadow planner: its plans against the planner's own, from the same states (the planner's loop)."""
    steps = [step for run in runs for step in run["steps"] if "shadow" in step]
    if not steps:
        return []
    name, shadow = runs[0]["planner"], runs[0]["shadow"]
    own, other = (
        {key: np.array([s[key] for s in part]) for key in ("planned", "realised")}
        for part in (steps, [step["shadow"] for step in steps])
    )
    promised = own["planned"] < other["planned"]
    # The step the loop takes: the realised cost of each plan's first action alone (its state after one step).
    first, other_first = (
        np.array([s["realised_steps"][0] for s in part]) for part in (steps, [s["shadow"] for s in steps])
    )
    return [
        f"\nsame states ({name}'s loop, {len(steps)} steps), {name} against {shadow}: mean planned "
        f"{own['planned'].mean():.1f} / {other['planned'].mean():.1f}, mean realised {own['realised'].mean():.1f} / "
        f"{other['realised'].mean():.1f}",
        f"{name}'s plan planned below {shadow}'s in {promised.sum()} of {len(steps)} steps, realised below in "
        f"{(own['realised'] < other['realised']).sum()}; of the steps it planned below, realised below in "
        f"{(promised & (own['realised'] < other['realised'])).sum()}",
        f"realised cost of the first step alone: mean {first.mean():.2f} / {other_first.mean():.2f}, {name}'s below in "
        f"{(first < other_first).sum()} of {len(steps)} steps",
    ]


def main(argv: list[str] | None = None) -> int:
    from dynamics.checkpoint import load_checkpoint
    from dynamics.disagreement import DisagreementDynamics
    from dynamics.errors import CheckpointError, DataError
    from envs.arguments import positive_number
    from envs.cli import parse_env_kwargs
    from mpc.cli import add_cost_arguments
    from mpc.control.runner import env_metadata
    from mpc.control.task import DISAGREEMENT_WEIGHT, ControlSettings

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model",
        type=Path,
        default=CHECKPOINTS / "pushing_onpolicy_relu64.pt",
        help="checkpoint (default: the bundled 60-ReLU pushing model)",
    )
    parser.add_argument(
        "--planners",
        nargs="+",
        type=planner_spec,
        default=["milp", "mppi"],
        help="planners as bench_planners.py names them, e.g. milp+ranges (default: milp mppi)",
    )
    parser.add_argument("--budget", type=float, default=0.5, help="planning seconds per step (default: 0.5)")
    parser.add_argument("--episodes", type=int, default=20, help="episodes per planner (default: 20)")
    parser.add_argument("--seed", type=int, default=5000, help="first held-out env seed (default: 5000)")
    parser.add_argument("--steps", type=int, default=25, help="control steps per episode (default: 25)")
    parser.add_argument("--horizon", type=int, default=8, help="planning horizon (default: 8)")
    add_cost_arguments(parser)  # the plans' cost; the realised cost is priced with it too
    parser.add_argument(
        "--shadow",
        type=planner_spec,
        metavar="PLANNER",
        help="this planner also plans from every state of each planner's loop (its own warm starts; its actions "
        "are not taken) and its plans are replayed too: the planners' plans compared on the same states",
    )
    parser.add_argument(
        "--disagreement",
        type=Path,
        metavar="MODEL",
        help="plan on --model and this second model of the same env together, paying --disagreement-weight per "
        "cm of their disagreement on the goal entries (dynamics.disagreement; MLP models)",
    )
    parser.add_argument(
        "--disagreement-weight",
        type=positive_number,
        help="with --disagreement: cost per cm of disagreement, per goal entry and step, positive "
        f"(default: {DISAGREEMENT_WEIGHT})",
    )
    parser.add_argument(
        "--env-kwargs",
        metavar="JSON",
        help="env options replacing the model's, e.g. '{\"obstacles\": 2}' (default: the model's env)",
    )
    parser.add_argument(
        "--world",
        choices=("simulator", "model"),
        default="simulator",
        help="what the closed loop controls: the simulator or the model itself (ModelWorld; default: %(default)s)",
    )
    parser.add_argument(
        "--compare",
        nargs="+",
        type=Path,
        metavar="DIR",
        help="run nothing: print the table of earlier runs' OUT folders together (e.g. one planner per process, "
        "side by side), each planner named with its folder",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("runs/bench_model_gap"),
        help="folder for JSON and table (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    if args.compare:
        try:
            print(table(compared(args.compare)))
        except (OSError, ValueError, KeyError) as error:
            parser.error(f"--compare: {error}")
        return 0
    if args.shadow in args.planners:
        parser.error(f"--shadow {args.shadow} is one of --planners: a planner against itself compares nothing")
    if args.disagreement_weight is not None and args.disagreement is None:
        parser.error("--disagreement-weight prices the disagreement of two models: give the second with --disagreement")
    torch.set_num_threads(1)
    checkpoint = load_checkpoint(args.model)
    metadata = env_metadata(checkpoint.metadata, parse_env_kwargs(args.env_kwargs) if args.env_kwargs else {})
    pair = None
    if args.disagreement is not None:
        try:
            pair = DisagreementDynamics.of_checkpoints(checkpoint, load_checkpoint(args.disagreement))
        except (CheckpointError, DataError) as error:
            parser.error(f"--disagreement: {error}")
    settings = ControlSettings(
        horizon=args.horizon,
        time_limit=args.budget,
        steps=args.steps,
        terminal_weight=args.terminal_weight,
        action_weight=args.action_weight,
        discount=args.discount,
        disagreement_weight=0.0 if pair is None else args.disagreement_weight or DISAGREEMENT_WEIGHT,
    )
    episodes = [
        episode(checkpoint, metadata, name, settings, args.seed + index, args.world, pair, args.shadow)
        for index in range(args.episodes)
        for name in args.planners
    ]
    text = table(episodes)
    args.out.mkdir(parents=True, exist_ok=True)
    settings_record = {key: str(value) if isinstance(value, Path) else value for key, value in vars(args).items()}
    (args.out / "bench_model_gap.json").write_text(json.dumps({"settings": settings_record, "episodes": episodes}))
    (args.out / "bench_model_gap.md").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
