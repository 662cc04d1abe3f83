"""What a mistake gets you: one test per kind of user mistake or bad number, over every command and planner
it applies to (issue 11). A mistake gets one line naming the problem and a non-zero exit before any long work
starts, and never costs a file; bad numbers are reported, never a traceback."""

import json
import math
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import gymnasium
import numpy as np
import pytest
import torch
from scenes import PUSHING, SORTING
from toy import toy_transitions

import dynamics.train
import envs  # noqa: F401  (registers the environments)
import envs.collect
import mpc.control.runner
from dynamics.checkpoint import load_checkpoint, save_checkpoint
from dynamics.config import TrainConfig
from dynamics.errors import ModelConfigError
from dynamics.evaluate import rollout
from dynamics.gates import NeuronKind
from dynamics.mlp import MLPDynamics
from envs.collect import collect_transitions
from envs.dataset import load_transitions
from envs.errors import DatasetError, EnvOptionsError
from mpc.control.controller import RecedingHorizonController
from mpc.control.task import ControlSettings, control_task, goal_features
from mpc.errors import NonFiniteError, NumericsError
from mpc.main import main
from mpc.milp.numerics import LARGE_VALUE, balanced, check_coefficients, coefficient_range
from mpc.milp.planner import MILPPlanner
from mpc.milp.program import ProgramBuilder
from mpc.planners import PLANNER_NAMES, frozen_dynamics, make_fallback_planner, make_planner
from mpc.problem import PlanningProblem, Task, trajectory_cost

SAMPLING = ("mppi", "cem", "random", "gd")
MILP = ("milp", "milp-exact", "milp-cem")
CHECKPOINTS = Path(__file__).resolve().parent.parent / "examples" / "checkpoints"


@pytest.fixture(scope="module")
def metadata():
    return gymnasium.make(PUSHING).unwrapped.dataset_metadata(seed=0)


def pushing_model(metadata, scale=1.0):
    """A small untrained MLP for the pushing env; `scale` multiplies every weight (1e30: it overflows)."""
    torch.manual_seed(0)
    model = MLPDynamics(len(metadata["state_layout"]), len(metadata["action_low"]), hidden=(8, 8))
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.mul_(scale)
    return model.eval()


@pytest.fixture
def files(tmp_path, metadata):
    """A transition file, a model checkpoint and an existing folder, as a command line names them."""
    toy_transitions(episodes=20, steps=25, seed=3).save(tmp_path / "data.npz")
    save_checkpoint(tmp_path / "model.pt", pushing_model(metadata), metadata, {})
    (tmp_path / "folder").mkdir()
    return {
        "tmp": str(tmp_path),
        "data": str(tmp_path / "data.npz"),
        "model": str(tmp_path / "model.pt"),
        "dir": str(tmp_path / "folder"),
    }


@pytest.fixture
def no_work(monkeypatch):
    """Make the long work of every command fail the test if it starts."""

    def work(*args, **kwargs):
        raise AssertionError("the command started its work before refusing the mistake")

    monkeypatch.setattr(envs.collect, "collect_transitions", work)
    monkeypatch.setattr(dynamics.train, "train", work)
    monkeypatch.setattr(mpc.control.runner, "run_closed_loop", work)


def run(capsys, command, arguments, files):
    code = main([command, *(argument.format(**files) for argument in arguments)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def snapshot(folder):
    """Every file under `folder` with its content."""
    return {
        os.path.join(root, name): open(os.path.join(root, name), "rb").read()
        for root, _, names in os.walk(folder)
        for name in names
    }


def assert_one_line(code, err, command, *fragments):
    assert code != 0
    assert err.count("\n") == 1 and err.startswith(f"sparsedyn {command}: error: "), err
    for fragment in fragments:
        assert fragment in err, err


# --- output paths -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command, arguments, message",
    [
        ("collect", ["ObjectPushing-v0", "--out", "{dir}"], "it is a directory"),
        ("train", ["{data}", "--out", "{data}"], "it is the input DATA"),
        ("train", ["{data}", "--out", "{dir}"], "it is a directory"),
        ("train", ["{data}", "--out", "{dir}/missing/model.pt"], "does not exist"),
        ("control", ["{model}", "--out", "{dir}"], "it is a directory"),
        ("control", ["{model}", "--out", "{model}"], "it is the input MODEL"),
        ("control", ["{model}", "--video", "{model}"], "it is the input MODEL"),
        ("control", ["{model}", "--out", "{tmp}/run.gif", "--video", "{tmp}/run.gif"], "it is the output --out"),
        ("control", ["{model}", "--out", "{tmp}/r.json", "--video", "{tmp}/run.mp3"], "no animated image format"),
        ("demo", ["--out-dir", "{data}"], "is a file"),
        ("demo", ["--out-dir", "{data}/inside"], "is a file"),
        ("demo", ["--out-dir", "{tmp}"], "demo_results.json: it is a directory"),
    ],
)
def test_output_paths_are_checked_before_any_work_and_cost_no_file(command, arguments, message, files, no_work, capsys):
    os.mkdir(os.path.join(files["tmp"], "demo_results.json"))  # an output of demo, taken by a folder
    before = snapshot(files["tmp"])
    code, _, err = run(capsys, command, arguments, files)
    assert_one_line(code, err, command, message)
    assert snapshot(files["tmp"]) == before  # inputs intact, nothing written, no temporary file left


# --- numeric options --------------------------------------------------------------------------------------

COMMAND_LINES = {
    "collect": ["ObjectPushing-v0", "--out", "{tmp}/new.npz"],
    "train": ["{data}", "--out", "{tmp}/new.pt"],
    "control": ["{model}", "--out", "{tmp}/new.json"],
    "demo": ["--out-dir", "{tmp}/new"],
}


@pytest.mark.parametrize(
    "command, option, value",
    [
        ("collect", "--episodes", "0"),
        ("collect", "--steps", "-5"),
        ("collect", "--seed", "-1"),
        ("collect", "--workers", "0"),
        ("train", "--lr", "inf"),
        ("train", "--lr", "nan"),
        ("train", "--lr", "0"),
        ("train", "--seed", "-1"),
        ("train", "--epochs", "0"),
        ("train", "--threads", "0"),
        ("train", "--message-penalty", "nan"),
        ("train", "--relu-target", "-1"),
        ("control", "--time-limit", "inf"),
        ("control", "--time-limit", "nan"),
        ("control", "--time-limit", "0"),
        ("control", "--seed", "-1"),
        ("control", "--horizon", "0"),
        ("control", "--episodes", "two"),
        ("demo", "--time-limit", "inf"),
        ("demo", "--seed", "-1"),
        ("demo", "--steps", "0"),
    ],
)
def test_numeric_options_that_make_no_sense_are_one_line_before_any_work(
    command, option, value, files, no_work, capsys
):
    before = snapshot(files["tmp"])
    code, out, err = run(capsys, command, [*COMMAND_LINES[command], option, value], files)
    assert code == 2 and out == ""
    assert_one_line(code, err, command, f"argument {option}: ", value)
    assert snapshot(files["tmp"]) == before


@pytest.mark.parametrize(
    "option",
    [
        {"learning_rate": math.nan},
        {"learning_rate": math.inf},
        {"relu_penalty": math.nan},
        {"seed": -1},
        {"model": "graph", "message_penalty": math.inf},
    ],
)
def test_training_options_that_make_no_sense_are_refused_by_the_library_too(option):
    with pytest.raises(ModelConfigError):
        TrainConfig(**option).validate()


# --- stdout holds results only ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ["control", "{model}", "--planner", "milp", "--out", "{tmp}/out/r.json"],
        ["control", "{model}", "--planner", "milp-cem", "--out", "{tmp}/out/r.json", "--video", "{tmp}/out/run.gif"],
        ["demo", "--out-dir", "{tmp}/out"],
    ],
)
def test_stdout_holds_results_only_and_files_follow_the_umask(command, files):
    """A fresh process: HiGHS prints its banner once per process, when the first Highs instance is made."""
    os.mkdir(files["tmp"] + "/out")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mpc.main",
            *(argument.format(**files) for argument in command),
            "--episodes",
            "1",
            "--steps",
            "1",
            "--horizon",
            "2",
            "--time-limit",
            "0.2",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ | {"OPENBLAS_NUM_THREADS": "1"},
        preexec_fn=lambda: os.umask(0o027),
    )
    assert done.returncode == 0, done.stderr
    assert "HiGHS" not in done.stdout
    assert done.stdout.startswith("| run |")
    written = os.listdir(files["tmp"] + "/out")
    assert written and all(os.stat(f"{files['tmp']}/out/{name}").st_mode & 0o777 == 0o640 for name in written)


# --- non-finite numbers -----------------------------------------------------------------------------------


def test_training_that_diverges_never_keeps_a_checkpoint_predicting_non_finite_states(files, capsys):
    """One Adam step per epoch at --lr 300: the first epoch ends with a finite loss, the weights it leaves
    overflow the 8-step rollouts (what `control` would plan with)."""
    out = files["tmp"] + "/model_lr300.pt"
    code, _, err = run(
        capsys,
        "train",
        [
            "{data}",
            "--out",
            out,
            "--lr",
            "300",
            "--batch-size",
            "1024",
            "--hidden",
            "16,16",
            "--rollout-steps",
            "3",
            "--epochs",
            "3",
            "--eval-steps",
            "8",
            "--quiet",
        ],
        files,
    )
    assert_one_line(code, err, "train", "training stopped")
    if os.path.exists(out):  # a kept checkpoint predicts finite states over the validation horizon
        checkpoint = load_checkpoint(out)
        low, high = (torch.tensor(checkpoint.metadata[key]) for key in ("workspace_low", "workspace_high"))
        generator = torch.Generator().manual_seed(0)
        start = low + torch.rand(64, 2, generator=generator) * (high - low)
        actions = torch.rand(64, 8, 1, generator=generator) * 2 - 1
        with torch.no_grad():
            assert torch.isfinite(rollout(checkpoint.model, start, actions)).all()


@pytest.mark.parametrize(
    "command, arguments", [("inspect", []), *(("control", ["--planner", name]) for name in PLANNER_NAMES)]
)
def test_a_checkpoint_that_predicts_non_finite_states_is_refused(command, arguments, files, metadata, no_work, capsys):
    save_checkpoint(
        files["tmp"] + "/diverged.pt", pushing_model(metadata, scale=1e30), metadata, {"config": {"eval_steps": 8}}
    )
    extra = ["--out", "{tmp}/r.json"] if command == "control" else []
    code, _, err = run(capsys, command, ["{tmp}/diverged.pt", *arguments, *extra], files)
    assert_one_line(code, err, command, "diverged.pt", "predictions are not finite")


@pytest.mark.parametrize("command", ["inspect", "control"])
def test_a_checkpoint_without_metadata_is_refused(command, files, metadata, no_work, capsys):
    save_checkpoint(files["tmp"] + "/bare.pt", pushing_model(metadata), {}, {})
    extra = ["--out", "{tmp}/r.json"] if command == "control" else []
    code, _, err = run(capsys, command, ["{tmp}/bare.pt", *extra], files)
    assert_one_line(code, err, command, "bare.pt", "env_id")


def test_inspect_refuses_data_without_transitions(files, capsys):
    toy = toy_transitions(episodes=2, steps=3)
    empty = {name: getattr(toy, name)[:0] for name in ("observations", "actions", "next_observations", "episode_ids")}
    np.savez(files["tmp"] + "/empty.npz", metadata=np.array(json.dumps(toy.metadata)), **empty)
    with pytest.raises(DatasetError, match="empty.npz: there are no transitions"):
        load_transitions(files["tmp"] + "/empty.npz")
    assert (
        run(
            capsys,
            "train",
            [
                "{data}",
                "--out",
                "{tmp}/toy.pt",
                "--hidden",
                "8",
                "--epochs",
                "1",
                "--rollout-steps",
                "2",
                "--eval-steps",
                "2",
                "--quiet",
            ],
            files,
        )[0]
        == 0
    )
    code, _, err = run(capsys, "inspect", ["{tmp}/toy.pt", "--data", "{tmp}/empty.npz"], files)
    assert_one_line(code, err, "inspect", "no transitions")


class Overflowing(torch.nn.Module):
    """Dynamics whose predictions are inf for every state: every sequence has a non-finite cost."""

    def forward(self, state, action):
        return state + action.sum(dim=-1, keepdim=True) + torch.inf


def sampling_problem(**changes):
    fields = dict(
        state=np.zeros(2),
        goal=np.ones(2),
        horizon=3,
        action_low=-np.ones(2),
        action_high=np.ones(2),
        state_weights=np.ones(2),
        terminal_weights=np.ones(2),
        time_limit=5.0,
    )
    return PlanningProblem(**(fields | changes))


class Integrator(torch.nn.Module):
    def forward(self, state, action):
        return state + action


@pytest.mark.parametrize("planner_name", SAMPLING)
@pytest.mark.parametrize("case", ["inf model", "weights 1e38"])
def test_sampling_planners_report_when_no_sequence_has_a_finite_cost(planner_name, case):
    model = Overflowing() if case == "inf model" else Integrator()
    problem = (
        sampling_problem()
        if case == "inf model"
        else sampling_problem(goal=np.full(2, 10.0), state_weights=np.full(2, 1e38))
    )
    planner = make_planner(planner_name, model, seed=0)
    planner.max_iterations = 3
    with pytest.raises(NonFiniteError, match="finite cost"):
        planner.plan(problem)


@pytest.mark.parametrize("planner_name", SAMPLING)
def test_sampling_planners_skip_the_non_finite_sequences(planner_name):
    """Half the box predicts NaN: the plan is the best finite sequence, and a zero-width entry stays put."""

    class HalfNaN(torch.nn.Module):
        def forward(self, state, action):
            following = state + action
            return torch.where(action[:, :1] > 0, torch.nan, following)

    planner = make_planner(planner_name, HalfNaN(), seed=0)
    planner.max_iterations = 5
    plan = planner.plan(
        sampling_problem(goal=-np.ones(2), action_low=np.array([-1.0, 0.25]), action_high=np.array([1.0, 0.25]))
    )
    assert np.isfinite(plan.objective) and np.isfinite(plan.states).all()
    assert np.all(plan.actions[:, 0] <= 0) and np.all(plan.actions[:, 1] == 0.25)


@pytest.mark.parametrize("planner_name", SAMPLING)
def test_the_controller_falls_back_when_planner_and_fallback_planner_find_no_finite_plan(planner_name):
    task = Task(
        horizon=3,
        action_low=-np.ones(2),
        action_high=np.ones(2),
        state_weights=np.ones(2),
        terminal_weights=np.ones(2),
        time_limit=0.2,
    )
    controller = RecedingHorizonController(
        make_planner(planner_name, Overflowing(), seed=0), task, make_fallback_planner(Overflowing())
    )
    action, record = controller.act(np.zeros(2), np.ones(2))
    assert record.fallback and record.status == "fallback (NonFiniteError)"
    assert np.array_equal(action, [0.0, 0.0])


# --- environments restore what they produce ---------------------------------------------------------------


@pytest.mark.parametrize(
    "env_id, kwargs",
    [
        (PUSHING, {"shape": "box"}),
        (PUSHING, {"shape": "t"}),
        (SORTING, {"num_objects": 4}),
        (SORTING, {"num_objects": 8, "num_classes": 4}),
    ],
)
def test_every_observation_a_step_produces_is_accepted_back_by_reset(env_id, kwargs):
    data = collect_transitions(env_id, episodes=12, steps=50, seed=11, env_kwargs=kwargs)
    env = gymnasium.make(env_id, **kwargs)
    refused = []
    for observation in data.next_observations:
        try:
            restored, _ = env.reset(options={"state": observation})
        except EnvOptionsError as error:
            refused.append(str(error))
            continue
        assert restored == pytest.approx(observation, abs=1e-4)
    assert refused == [], f"{len(refused)} of {len(data)} refused, e.g. {refused[0]}"


@pytest.mark.parametrize("overlap, accepted", [(0.3, True), (0.5, False), (1.5, False)])
def test_reset_refuses_only_overlaps_no_step_produces(overlap, accepted):
    env = gymnasium.make(PUSHING)
    state = np.concatenate([[-5.0 + overlap, 0.0], env.unwrapped.keypoints_at(0.0, 0.0, 0.0)])  # box face at x = -4
    if accepted:
        env.reset(options={"state": state})
    else:
        with pytest.raises(EnvOptionsError, match="pusher overlaps the object"):
            env.reset(options={"state": state})


# --- the action box ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("planner_name", PLANNER_NAMES)
def test_every_plan_and_objective_stay_in_the_action_box_whatever_the_warm_start(planner_name, metadata):
    """The goal is where the warm start (3.5 cm steps against a 2.5 cm box) leads: no in-box plan gets there."""
    model = pushing_model(metadata).double()
    low, high = np.array(metadata["action_low"]), np.array(metadata["action_high"])
    state = np.array([-10.0, 0.0, *gymnasium.make(PUSHING).unwrapped.keypoints_at(0.0, 0.0, 0.0)])
    warm_start = np.full((3, 2), 1.4 * high[0])
    with torch.no_grad():
        goal = rollout(model, torch.as_tensor(state), torch.as_tensor(warm_start)[None])[0, -1].numpy()
    problem = PlanningProblem(
        state=state,
        goal=goal,
        horizon=3,
        action_low=low,
        action_high=high,
        state_weights=np.zeros(10),
        terminal_weights=np.ones(10),
        warm_start=warm_start,
        workspace_low=np.array(metadata["workspace_low"]),
        workspace_high=np.array(metadata["workspace_high"]),
        time_limit=2.0,
    )
    model.float()
    planner = make_planner(planner_name, model, seed=0)
    if hasattr(planner, "max_iterations"):
        planner.max_iterations = 1  # random shooting: the warm start and one batch
    plan = planner.plan(problem)
    assert np.all(plan.actions >= low) and np.all(plan.actions <= high)
    with torch.no_grad():
        states = rollout(model.double(), torch.as_tensor(state), torch.as_tensor(plan.actions)[None])
    in_box = float(trajectory_cost(problem, states, torch.as_tensor(plan.actions)[None])[0])
    assert plan.objective == pytest.approx(in_box, rel=1e-4)  # the objective is that of the in-box plan


# --- numerics of the mixed-integer program ----------------------------------------------------------------


def badly_scaled_model(scale=1e8):
    """6 ReLUs, the first layer times 3 scale, the last divided by scale: weights from 1e-10 to 2e8, and the
    same function as the model with the first layer times 3 (ReLUs are positively homogeneous)."""
    torch.manual_seed(5)
    model = MLPDynamics(2, 1, hidden=(6,))
    model.set_kinds([np.full(6, NeuronKind.RELU)])
    with torch.no_grad():
        first, last = model.net.linears[0], model.net.linears[-1]
        first.weight.mul_(3 * scale)
        first.bias.mul_(3 * scale)
        last.weight.div_(scale)
    return model.eval()


def grid_optimum(network, problem, points=200_001):
    """The least trajectory cost over a fine grid of the one action of a one-step problem, on the frozen network."""
    actions = np.linspace(problem.action_low[0], problem.action_high[0], points)[:, None]
    states = network.forward(np.concatenate([np.tile(problem.state, (points, 1)), actions], axis=1))
    trajectories = np.stack([np.tile(problem.state, (points, 1)), states], axis=1)
    costs = trajectory_cost(problem, torch.from_numpy(trajectories), torch.from_numpy(actions[:, None]))
    return float(costs.min())


@pytest.mark.parametrize("bounds", ["interval", "linear", "lp"])
@pytest.mark.parametrize("planner_name", MILP)
def test_a_network_with_weights_from_1e_10_to_2e8_is_planned_on_exactly(planner_name, bounds):
    """Before the fix: "optimal, gap 0" 30% above the grid's optimum with linear and lp bounds (HiGHS drops
    the last layer's entries below 1e-9). The planners rescale the neurons exactly and find the optimum."""
    model = badly_scaled_model()
    network = model.export()
    weights = np.concatenate([np.abs(layer.weight).ravel() for layer in network.layers])
    assert weights.max() > 1e8 and weights[weights > 0].min() < 1e-9  # the scale the issue describes
    rng = np.random.default_rng(6)
    problem = PlanningProblem(
        state=rng.normal(size=2),
        goal=rng.normal(scale=0.5, size=2),
        horizon=1,
        action_low=-np.ones(1),
        action_high=np.ones(1),
        state_weights=np.full(2, 0.5),
        terminal_weights=np.full(2, 2.0),
        action_weight=0.1,
        time_limit=1.0,
    )
    optimum = grid_optimum(network, problem)
    plan = make_planner(planner_name, model, seed=0, bounds=bounds).plan(problem)
    assert plan.objective <= optimum + 1e-4 * optimum  # the optimum, up to the grid's and the solver's gaps
    assert plan.best_bound is None or plan.best_bound <= optimum + 1e-6  # a lower bound that holds
    if plan.status == "optimal":
        assert plan.objective == pytest.approx(optimum, rel=1e-3)


def test_rescaling_a_network_keeps_every_float_and_leaves_trained_models_alone():
    network = badly_scaled_model().export()
    rescaled = balanced(network)
    inputs = np.random.default_rng(0).uniform(-3, 3, size=(1000, 3))
    np.testing.assert_array_equal(rescaled.forward(inputs), network.forward(inputs))  # bit for bit
    assert max(np.abs(layer.weight).max() for layer in rescaled.layers) < 1e3
    for name in ("pushing_sparse.pt", "sorting_graph_sparse.pt"):
        trained = load_checkpoint(CHECKPOINTS / name).model.export()
        assert balanced(trained) is trained


@pytest.mark.parametrize("entry, column_bound, refused", [(1e-12, 100.0, False), (2e-10, 7e8, True), (1.0, 2e6, True)])
def test_the_coefficient_check_refuses_what_highs_would_solve_wrongly(entry, column_bound, refused):
    """An entry HiGHS drops (<= 1e-9) matters only if it moves its row by more than HiGHS's tolerance (1e-7)."""
    builder = ProgramBuilder()
    columns = builder.add_columns("x", np.ones(2, dtype=bool), -column_bound, column_bound)
    builder.add_rows(1, np.zeros(2, dtype=np.int64), columns, np.array([1.0, entry]), 0.0, 0.0)
    problem = PlanningProblem(
        state=np.zeros(1),
        goal=np.zeros(1),
        horizon=1,
        action_low=-np.ones(1),
        action_high=np.ones(1),
        state_weights=np.ones(1),
        terminal_weights=np.ones(1),
        workspace_low=-np.ones(1),
        workspace_high=np.ones(1),
    )
    program = builder.build()
    if refused:
        with pytest.raises(NumericsError, match="coefficients span"):
            check_coefficients(program, problem, "interval")
    else:
        assert check_coefficients(program, problem, "interval").dropped == pytest.approx(1e-10)


@pytest.fixture(scope="module")
def pushing_without_workspace():
    """The bundled sparse pushing model and a 12-step problem from its env, without a workspace box."""
    checkpoint = load_checkpoint(CHECKPOINTS / "pushing_sparse.pt")
    task = control_task(checkpoint.metadata, ControlSettings(horizon=12, time_limit=1.0))
    env = gymnasium.make(PUSHING)
    observation, _ = env.reset(seed=0)
    problem = task.problem(observation.astype(np.float64), goal_features(task, env.unwrapped.goal))
    return checkpoint.model, problem, replace(problem, workspace_low=None, workspace_high=None)


@pytest.mark.parametrize("planner_name", MILP)
def test_a_problem_without_workspace_box_is_refused_naming_the_box(planner_name, pushing_without_workspace):
    """Before the fix: big-M values of 9e9 at H = 12 went to HiGHS (and 1e24 at H = 30: "HiGHS rejected the
    program", no cause). Now the program is refused before solving, with what to pass instead."""
    model, with_box, without_box = pushing_without_workspace
    planner = make_planner(planner_name, model, seed=0, bounds="interval")
    with pytest.raises(NumericsError, match="without a workspace box.*pass workspace_low and workspace_high"):
        planner.plan(without_box)
    milp = MILPPlanner(frozen_dynamics(model), with_box.state_dim, with_box.action_dim, bounds="interval")
    assert coefficient_range(milp.build(with_box).program).largest <= LARGE_VALUE  # the box keeps it in range
