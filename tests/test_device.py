"""Devices: `--device auto|cpu|cuda` from the command line to the tensors.

The CPU tests run everywhere: the device names, the one-line error for a GPU that is not there (a machine
without one is simulated by patching torch.cuda.is_available), sample counts by device, and plans that are
the same as before devices existed. The tests marked `cuda` run where torch sees a GPU (see conftest.py).
"""

import json
from pathlib import Path

import gymnasium
import numpy as np
import pytest
import torch
from test_sampling_planners import optimal_cost
from toy import toy_transitions

import envs  # noqa: F401  (registers the environments)
from dynamics.checkpoint import load_checkpoint, save_checkpoint
from dynamics.device import DEVICE_CHOICES, model_device, resolve_device
from dynamics.errors import DeviceError, DynamicsError
from dynamics.evaluate import rollout
from dynamics.gates import GatedMLP
from dynamics.graph import GraphDynamics
from dynamics.mlp import MLPDynamics
from dynamics.train import TrainConfig, train
from mpc.control.runner import ControlSettings, run_closed_loop
from mpc.control.sweep import SweepSpec, run_episode_task, task_key
from mpc.control.task import control_task, goal_features
from mpc.errors import MPCError
from mpc.main import main
from mpc.planners import DEVICE_PLANNERS, PLANNER_NAMES, make_fallback_planner, make_planner, planner_device
from mpc.problem import PlanningProblem, trajectory_cost
from mpc.sampling.cem import CEMPlanner
from mpc.sampling.defaults import DEFAULT_SAMPLES, DEFAULT_STARTS
from mpc.sampling.gradient_descent import GradientDescentPlanner
from mpc.sampling.mppi import MPPIPlanner
from mpc.sampling.random_shooting import RandomShootingPlanner

CHECKPOINTS = Path(__file__).resolve().parent.parent / "examples" / "checkpoints"
TINY = TrainConfig(
    hidden=(16, 16), relu_target=5, rollout_steps=3, epochs=2, phase_epochs=1, batch_size=64, eval_steps=4
)

pytestmark = pytest.mark.usefixtures("one_thread")


class Integrator(torch.nn.Module):
    def forward(self, state, action):
        return state + action


def integrator_problem(**changes):
    problem = dict(
        state=np.zeros(2),
        goal=np.array([3.0, -2.0]),
        horizon=4,
        action_low=-np.ones(2),
        action_high=np.ones(2),
        state_weights=np.ones(2),
        terminal_weights=5 * np.ones(2),
        time_limit=30.0,
    )
    return PlanningProblem(**{**problem, **changes})


@pytest.fixture
def no_gpu(monkeypatch):
    """This machine as one without a CUDA GPU, whatever it has."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.fixture(scope="module")
def metadata():
    return gymnasium.make("sparsedyn/ObjectPushing-v0").unwrapped.dataset_metadata(seed=0)


def pushing_problem(metadata, horizon=3, time_limit=0.5):
    """The control task of the pushing env from the first state of episode seed 0."""
    task = control_task(metadata, ControlSettings(horizon=horizon, time_limit=time_limit))
    env = gymnasium.make("sparsedyn/ObjectPushing-v0")
    observation, _ = env.reset(seed=0)
    return task.problem(observation.astype(np.float64), goal_features(task, env.unwrapped.goal))


def small_model(metadata):
    torch.manual_seed(0)
    model = MLPDynamics(len(metadata["state_layout"]), len(metadata["action_low"]), hidden=(8, 8))
    model.set_kinds([np.array([2, 2, 1, 0, 2, 1, 1, 2]), np.array([1, 2, 2, 0, 0, 1, 2, 1])])
    return model.eval()


# --- device names ---------------------------------------------------------------------------------------


def test_cpu_and_auto_resolve_here():
    assert resolve_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected and resolve_device(None).type == expected
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    assert DEVICE_CHOICES == ("auto", "cpu", "cuda")


def test_auto_is_the_cpu_without_a_gpu(no_gpu):
    assert resolve_device("auto") == torch.device("cpu")


@pytest.mark.parametrize("name", ["cuda", "cuda:0", torch.device("cuda")])
def test_cuda_without_a_gpu_is_one_typed_line(no_gpu, name):
    with pytest.raises(DeviceError) as error:
        resolve_device(name)
    assert isinstance(error.value, DynamicsError)
    message = str(error.value)
    assert "\n" not in message and "cuda" in message and "--device cpu" in message


@pytest.mark.parametrize("name", ["gpu", "tpu", "mps", "", 3])
def test_unknown_devices_are_refused(name):
    with pytest.raises(DeviceError, match="not one of auto, cpu, cuda"):
        resolve_device(name)


def test_model_device():
    assert model_device(Integrator()) == torch.device("cpu")  # no parameter, no buffer
    assert model_device(MLPDynamics(2, 1, (4,))) == torch.device("cpu")


# --- planners: the same plans on the CPU as before devices existed ------------------------------------------

# First action and objective of each planner on integrator_problem() with seed 5 and 3 iterations, as the
# planners computed them before they knew of devices (CPU generator: the same numbers on every machine).
BEFORE = {
    "mppi": ((1.0, -1.0), 4.984175205230713),
    "cem": ((0.826693, -1.0), 6.009461402893066),
    "random": ((0.754847, -0.75658), 12.360332489013672),
    "gd": ((0.912738, -0.451715), 13.30112075805664),
}
CLASSES = {"mppi": MPPIPlanner, "cem": CEMPlanner, "random": RandomShootingPlanner, "gd": GradientDescentPlanner}


@pytest.mark.parametrize("name", CLASSES)
@pytest.mark.parametrize("device", [None, "cpu", torch.device("cpu"), "auto"])
def test_cpu_plans_are_those_of_before(name, device, no_gpu):
    plan = CLASSES[name](Integrator(), seed=5, max_iterations=3, device=device).plan(integrator_problem())
    first, objective = BEFORE[name]
    np.testing.assert_allclose(plan.actions[0], first, atol=2e-6)
    assert plan.objective == pytest.approx(objective, rel=1e-5)
    assert isinstance(plan.actions, np.ndarray) and plan.actions.dtype == np.float64


@pytest.mark.parametrize("name", CLASSES)
@pytest.mark.parametrize("device", [None, "cpu", "auto"])
def test_the_factory_on_the_cpu_gives_the_plans_of_before(name, device, no_gpu):
    planner = make_planner(name, Integrator(), seed=5, device=device)
    planner.max_iterations = 3  # the factory's planners run on time alone
    plan = planner.plan(integrator_problem())
    first, objective = BEFORE[name]
    np.testing.assert_allclose(plan.actions[0], first, atol=2e-6)
    assert plan.objective == pytest.approx(objective, rel=1e-5)


@pytest.mark.parametrize("name", CLASSES)
def test_planners_keep_a_model_on_their_device_as_it_is(name):
    integrator = Integrator()
    assert CLASSES[name](integrator, device="cpu").model is integrator  # no gated MLP: no copy
    model = MLPDynamics(2, 2, (4,))
    planner = CLASSES[name](model, device="cpu")
    assert isinstance(model.net, GatedMLP)  # the caller's model untouched; the planner's is its compact copy
    assert model_device(planner.model) == planner.device == torch.device("cpu")
    assert planner.generator.device == torch.device("cpu")


def test_sample_counts_by_device():
    assert DEFAULT_SAMPLES == {"cpu": 256, "cuda": 4096} and DEFAULT_STARTS == {"cpu": 16, "cuda": 256}
    model = Integrator()
    assert MPPIPlanner(model).samples == 256 and RandomShootingPlanner(model).samples == 256
    assert GradientDescentPlanner(model).samples == 16
    cem = CEMPlanner(model)
    assert cem.samples == 256 and cem.refit_elites == 32
    assert MPPIPlanner(model, samples=64).samples == 64 and GradientDescentPlanner(model, starts=4).samples == 4
    assert CEMPlanner(model, samples=64).refit_elites == 8
    assert CEMPlanner(model, samples=64, refit_elites=5).refit_elites == 5
    for name in DEVICE_PLANNERS:
        planner = make_planner(name, MLPDynamics(2, 2, (4,)), samples=48)
        sampler = getattr(planner, "sampler", planner)  # milp-cem: its CEM
        assert sampler.samples == 48
    assert make_fallback_planner(model).samples == 256


def test_cem_hands_back_no_elites_unless_asked():
    """CEM's `elites` is its refit's; it no longer doubles as the count of sequences a plan hands back."""
    plan = CEMPlanner(Integrator(), seed=1, max_iterations=2).plan(integrator_problem())
    assert "elites" not in plan.extras
    assert MPPIPlanner(Integrator(), seed=1, max_iterations=2, elites=4).plan(integrator_problem()).extras[
        "elites"
    ].shape == (4, 4, 2)


def test_milp_planners_run_on_the_cpu():
    assert set(DEVICE_PLANNERS) < set(PLANNER_NAMES) and "milp" not in DEVICE_PLANNERS
    assert planner_device("milp", "cpu") == torch.device("cpu")
    assert planner_device("mppi", "cpu") == torch.device("cpu")


def test_planner_device_refuses_cuda_without_a_gpu_even_for_the_milp(no_gpu):
    assert planner_device("milp", "auto") == planner_device("mppi", "auto") == torch.device("cpu")
    for name in ("milp", "mppi"):
        with pytest.raises(DeviceError):
            planner_device(name, "cuda")
    with pytest.raises(DeviceError):
        make_planner("mppi", Integrator(), device="cuda")


# --- training ------------------------------------------------------------------------------------------------


def test_training_on_the_cpu_is_the_same_whichever_way_it_is_named(tmp_path, no_gpu):
    data = toy_transitions(episodes=12, steps=20, seed=1)
    runs = [
        train(data, TINY, tmp_path / f"{index}.pt", show_progress=False, **options)
        for index, options in enumerate([{}, {"device": "cpu"}, {"device": "auto"}])
    ]
    first = runs[0].model.state_dict()
    for run in runs[1:]:
        assert all(torch.equal(first[key], value) for key, value in run.model.state_dict().items())
    assert load_checkpoint(tmp_path / "0.pt").info["device"] == "cpu"


def run_cli(capsys, *argv):
    code = main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_train_with_cuda_without_a_gpu_is_one_line(capsys, tmp_path, no_gpu):
    data = tmp_path / "data.npz"
    toy_transitions(episodes=6, steps=10, seed=1).save(data)
    code, _, err = run_cli(capsys, "train", data, "--out", tmp_path / "m.pt", "--device", "cuda", "--quiet")
    assert code == 1 and err.startswith("sparsedyn train: error: device 'cuda' asked for") and err.count("\n") == 1
    assert not (tmp_path / "m.pt").exists()


def test_train_cli_records_the_device(capsys, tmp_path):
    data = tmp_path / "data.npz"
    toy_transitions(episodes=6, steps=10, seed=1).save(data)
    code, report, _ = run_cli(
        capsys,
        "train",
        data,
        "--out",
        tmp_path / "m.pt",
        "--hidden",
        "4",
        "--epochs",
        "1",
        "--rollout-steps",
        "2",
        "--eval-steps",
        "2",
        "--device",
        "cpu",
        "--quiet",
    )
    assert code == 0 and " s on cpu, last epoch loss" in report


def test_device_is_a_choice(capsys):
    code, _, err = run_cli(capsys, "control", "model.pt", "--device", "gpu")
    assert code == 2 and "invalid choice: 'gpu'" in err


# --- control ---------------------------------------------------------------------------------------------------


def test_control_with_cuda_without_a_gpu_is_one_line(capsys, tmp_path, metadata, no_gpu):
    model_path = tmp_path / "model.pt"
    save_checkpoint(model_path, small_model(metadata), metadata, info={})
    for planner in ("mppi", "milp"):
        code, _, err = run_cli(
            capsys, "control", model_path, "--planner", planner, "--device", "cuda", "--out", tmp_path / "r.json"
        )
        assert code == 1 and err.startswith("sparsedyn control: error: device 'cuda'") and err.count("\n") == 1
    assert not (tmp_path / "r.json").exists()


def test_control_on_the_cpu_records_device_and_samples(capsys, tmp_path, metadata):
    model_path, out = tmp_path / "model.pt", tmp_path / "r.json"
    save_checkpoint(model_path, small_model(metadata), metadata, info={})
    code, _, _ = run_cli(
        capsys,
        "control",
        model_path,
        "--planner",
        "mppi",
        "--device",
        "cpu",
        "--samples",
        "16",
        "--horizon",
        "2",
        "--steps",
        "2",
        "--episodes",
        "1",
        "--time-limit",
        "0.05",
        "--out",
        out,
    )
    assert code == 0
    config = json.loads(out.read_text())["config"]
    assert config["device"] == "cpu" and config["samples"] == 16


# --- sweep -------------------------------------------------------------------------------------------------


def write_spec(tmp_path, **changes):
    spec = {
        "models": {"m": "model.pt"},
        "runs": [["milp", "m"], ["mppi", "m"]],
        "time_limits": [0.05],
        "horizons": [2],
        "episodes": 1,
        "steps": 2,
        **changes,
    }
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    return path


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"device": "gpu"}, "device 'gpu' is not one of auto, cpu, cuda"),
        ({"samples": 0}, "samples must be a positive integer or null"),
        ({"samples": 1.5}, "samples must be a positive integer or null"),
        ({"tasks_per_gpu": 0}, "tasks_per_gpu must be a positive integer"),
    ],
)
def test_sweep_spec_refuses_bad_device_options(tmp_path, changes, message):
    with pytest.raises(MPCError, match=message):
        SweepSpec.load(write_spec(tmp_path, **changes))


def test_sweep_tasks_run_the_milp_on_the_cpu(tmp_path, no_gpu):
    def devices(**changes):
        return [(task["planner"], task["device"]) for task in SweepSpec.load(write_spec(tmp_path, **changes)).tasks()]

    assert devices() == devices(device="auto") == devices(device="cpu") == [("milp", "cpu"), ("mppi", "cpu")]
    assert devices(device="cuda") == [("milp", "cpu"), ("mppi", "cuda")]  # a remote cluster may have the GPU
    spec = SweepSpec.load(write_spec(tmp_path, samples=32))
    assert {task["samples"] for task in spec.tasks()} == {32}


def test_sweep_results_of_before_devices_still_count(tmp_path):
    task = SweepSpec.load(write_spec(tmp_path, device="cpu")).tasks()[1]
    before = {key: value for key, value in task.items() if key not in ("device", "samples")}
    assert task_key(before) == task_key(task)
    assert task_key({**task, "device": "cuda"}) != task_key(task)


def test_sweep_episode_task_runs_on_its_device(tmp_path, metadata):
    model_path = tmp_path / "model.pt"
    save_checkpoint(model_path, small_model(metadata), metadata, info={})
    task = {
        "planner": "mppi",
        "model": "m",
        "checkpoint": str(model_path),
        "time_limit": 0.05,
        "horizon": 2,
        "seed": 3,
        "steps": 2,
        "env_kwargs": {},
        "bounds": "interval",
        "device": "cpu",
        "samples": 8,
    }
    record = run_episode_task(task)
    assert record["task"] is task and len(record["planning_times"]) == 2


# --- on a GPU ----------------------------------------------------------------------------------------------------


@pytest.mark.cuda
def test_auto_is_the_gpu():
    assert resolve_device("auto") == torch.device("cuda", torch.cuda.current_device())
    assert resolve_device("cuda") == resolve_device("auto")


@pytest.mark.cuda
@pytest.mark.parametrize("name", CLASSES)
def test_gpu_planners_reach_the_optimum_and_repeat_their_plans(name):
    problem = integrator_problem()
    make = lambda: CLASSES[name](Integrator(), seed=3, device="cuda", max_iterations=30 if name != "gd" else 100)  # noqa: E731
    first, second = make().plan(problem), make().plan(problem)
    np.testing.assert_array_equal(first.actions, second.actions)  # same seed, same device: same plan
    assert make().samples == (DEFAULT_STARTS if name == "gd" else DEFAULT_SAMPLES)["cuda"]
    assert np.all(np.abs(first.actions) <= 1 + 1e-6)
    replay = rollout(Integrator(), torch.zeros(2, dtype=torch.float64), torch.as_tensor(first.actions)[None])
    cost = float(trajectory_cost(problem, replay, torch.as_tensor(first.actions)[None])[0])
    assert first.objective == pytest.approx(cost, rel=1e-5)
    optimum = optimal_cost(problem)
    start = float(
        trajectory_cost(problem, torch.zeros(1, 5, 2, dtype=torch.float64), torch.zeros(1, 4, 2, dtype=torch.float64))[
            0
        ]
    )
    assert first.objective <= optimum + 0.25 * (start - optimum) + 1e-6


@pytest.mark.cuda
def test_gpu_plans_mean_the_same_on_the_cpu_model():
    checkpoint = load_checkpoint(CHECKPOINTS / "pushing_sparse.pt")
    model, problem = checkpoint.model, pushing_problem(checkpoint.metadata, horizon=4)
    plan = MPPIPlanner(model, seed=0, device="cuda", samples=1024, max_iterations=5, elites=8).plan(problem)
    assert next(model.parameters()).device.type == "cpu"  # the caller's model stays where it was
    with torch.no_grad():
        states = rollout(
            model,
            torch.as_tensor(problem.state, dtype=torch.float32),
            torch.as_tensor(plan.actions, dtype=torch.float32)[None],
        )
    np.testing.assert_allclose(plan.states, states[0].double().numpy(), rtol=1e-4, atol=1e-3)
    cost = float(trajectory_cost(problem, states.double(), torch.as_tensor(plan.actions)[None])[0])
    assert plan.objective == pytest.approx(cost, rel=1e-4)
    cpu = MPPIPlanner(model, seed=0, device="cpu", samples=1024, max_iterations=5).plan(problem)
    assert plan.objective <= 1.5 * cpu.objective  # the same search: comparable plans, not the same numbers
    assert plan.extras["elites"].shape == (8, 4, 2) and isinstance(plan.extras["elites"], np.ndarray)


@pytest.mark.cuda
def test_exports_from_the_gpu_equal_those_from_the_cpu():
    mlp = load_checkpoint(CHECKPOINTS / "pushing_sparse.pt").model
    graph = load_checkpoint(CHECKPOINTS / "sorting_graph_sparse.pt").model
    for model in (mlp, graph):
        cpu = model.export()
        gpu = model.to("cuda").export()
        for network in ("edge", "node") if isinstance(model, GraphDynamics) else (None,):
            a, b = (cpu, gpu) if network is None else (getattr(cpu, network), getattr(gpu, network))
            for first, second in zip(a.layers, b.layers):
                np.testing.assert_array_equal(first.weight, second.weight)
                np.testing.assert_array_equal(first.relu, second.relu)
        model.to("cpu")


@pytest.mark.cuda
def test_graph_model_predicts_the_same_on_the_gpu():
    graph = load_checkpoint(CHECKPOINTS / "sorting_graph_sparse.pt").model
    states, actions = torch.rand(64, 2 * 5) * 20, torch.rand(64, graph.action_dim) * 2 - 1
    expected = graph(states, actions)
    predicted = graph.to("cuda")(states.cuda(), actions.cuda()).cpu()
    torch.testing.assert_close(predicted, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.cuda
@pytest.mark.parametrize("name", PLANNER_NAMES)
def test_every_planner_closes_the_loop_from_a_gpu_model(name, metadata):
    model = small_model(metadata).to("cuda")  # the MILP exports it, the sampling planners run on it
    planner = make_planner(name, model, seed=0, bounds="interval", samples=64)
    results = run_closed_loop(
        planner,
        metadata,
        ControlSettings(horizon=2, steps=2, time_limit=0.5),
        1,
        0,
        make_fallback_planner(model, 0),
        show_progress=False,
    )
    steps = results["episodes"][0]["steps"]
    assert len(steps) == 2 and all(step["planning_time"] > 0 for step in steps)
    if name in CLASSES:  # a sampling planner always has a plan
        assert not any(step["fallback"] for step in steps)


@pytest.mark.cuda
def test_training_on_the_gpu_loads_on_the_cpu_and_resumes(tmp_path):
    data = toy_transitions(episodes=12, steps=20, seed=1)
    result = train(data, TINY, tmp_path / "m.pt", show_progress=False, device="cuda")
    assert next(result.model.parameters()).device.type == "cuda"
    saved = load_checkpoint(tmp_path / "m.pt")
    assert saved.info["device"] == "cuda" and next(saved.model.parameters()).device.type == "cpu"
    assert saved.info["kind_counts"]["relu"] <= 5
    assert saved.model.export().relu_count == saved.info["kind_counts"]["relu"]


@pytest.mark.cuda
def test_control_on_the_gpu(capsys, tmp_path, metadata):
    model_path, out = tmp_path / "model.pt", tmp_path / "r.json"
    save_checkpoint(model_path, small_model(metadata), metadata, info={})
    code, _, _ = run_cli(
        capsys,
        "control",
        model_path,
        "--planner",
        "mppi",
        "--device",
        "cuda",
        "--horizon",
        "2",
        "--steps",
        "2",
        "--episodes",
        "1",
        "--time-limit",
        "0.1",
        "--out",
        out,
    )
    assert code == 0 and json.loads(out.read_text())["config"]["device"] == "cuda"
