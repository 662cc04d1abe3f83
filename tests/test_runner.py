"""Closed-loop runs on the pushing env with a small untrained model: records, JSON, CLI, Ctrl-C."""

import json

import gymnasium
import numpy as np
import pytest
import torch

import envs  # noqa: F401
from dynamics.checkpoint import save_checkpoint
from dynamics.graph import GraphDynamics
from dynamics.mlp import MLPDynamics
from mpc.cli import check_model_fits
from mpc.control.results import summary_table
from mpc.control.runner import ControlSettings, env_metadata, run_closed_loop
from mpc.main import main
from mpc.planners import PLANNER_NAMES, graph_objects, make_fallback_planner, make_planner


@pytest.fixture(scope="module")
def metadata():
    env = gymnasium.make("sparsedyn/ObjectPushing-v0")
    return env.unwrapped.dataset_metadata(seed=0)


def small_model(metadata, seed=0):
    torch.manual_seed(seed)
    state_dim, action_dim = len(metadata["state_layout"]), len(metadata["action_low"])
    model = MLPDynamics(state_dim, action_dim, hidden=(8, 8))
    model.set_kinds([np.array([2, 2, 1, 0, 2, 1, 1, 2]), np.array([1, 2, 2, 0, 0, 1, 2, 1])])
    return model.eval()


@pytest.mark.parametrize("planner_name", PLANNER_NAMES)
def test_every_planner_closes_the_loop(metadata, planner_name):
    model = small_model(metadata)
    settings = ControlSettings(horizon=3, time_limit=0.5, steps=3)
    results = run_closed_loop(
        make_planner(planner_name, model, seed=0),
        metadata,
        settings,
        episodes=2,
        seed=5,
        fallback_planner=make_fallback_planner(model),
        show_progress=False,
    )
    assert [episode["seed"] for episode in results["episodes"]] == [5, 6]
    for episode in results["episodes"]:
        assert len(episode["steps"]) == 3 and len(episode["cost_curve"]) == 4
        assert episode["final_cost"] == episode["cost_curve"][-1] == episode["steps"][-1]["task_cost"]
        assert all(step["planning_time"] > 0 for step in episode["steps"])
    assert results["summary"]["episodes"] == 2 and results["summary"]["steps"] == 6
    sampled = [step["sampled_objective"] for episode in results["episodes"] for step in episode["steps"]]
    if planner_name in ("milp", "milp-cem"):  # the MILP's plan is never worse than the sampled one it starts from
        assert all(
            step["objective"] <= step["sampled_objective"] + 1e-4 * (1 + abs(step["sampled_objective"]))
            for episode in results["episodes"]
            for step in episode["steps"]
            if not step["fallback"]
        )
        assert 0 <= results["summary"]["milp_improved_steps"] <= 6
    else:
        assert sampled == [None] * 6 and results["summary"]["milp_improved_steps"] is None


def test_same_seed_gives_the_same_episodes(metadata):
    model = small_model(metadata)
    settings = ControlSettings(horizon=3, time_limit=5.0, steps=3)
    runs = [
        run_closed_loop(make_planner("milp-exact", model), metadata, settings, episodes=1, seed=9, show_progress=False)
        for _ in range(2)
    ]
    assert runs[0]["episodes"][0]["cost_curve"] == runs[1]["episodes"][0]["cost_curve"]


class InterruptAfter:
    """A planner that lets `calls` plans through and then acts like the user pressed Ctrl-C."""

    def __init__(self, planner, calls):
        self.planner, self.calls = planner, calls

    def plan(self, problem):
        self.calls -= 1
        if self.calls < 0:
            raise KeyboardInterrupt
        return self.planner.plan(problem)


def test_ctrl_c_keeps_the_finished_episodes(metadata):
    model = small_model(metadata)
    planner = InterruptAfter(make_planner("random", model), calls=5)
    results = run_closed_loop(
        planner, metadata, ControlSettings(horizon=2, steps=2, time_limit=0.1), episodes=4, seed=0, show_progress=False
    )
    assert results["interrupted"]
    assert len(results["episodes"]) == 2
    assert results["summary"]["episodes"] == 2


def test_control_command_writes_results_and_video(tmp_path, metadata, capsys):
    model_path = tmp_path / "model.pt"
    save_checkpoint(model_path, small_model(metadata), metadata, info={"kind_counts": {}})
    out, video = tmp_path / "results.json", tmp_path / "run.gif"
    code = main(
        [
            "control",
            str(model_path),
            "--planner",
            "milp",
            "--horizon",
            "3",
            "--episodes",
            "2",
            "--steps",
            "2",
            "--time-limit",
            "1",
            "--seed",
            "3",
            "--out",
            str(out),
            "--video",
            str(video),
            "--no-progress",
        ]
    )
    assert code == 0
    printed = capsys.readouterr()
    assert "median final cost" in printed.out and "control:" not in printed.err  # --no-progress: no bar
    results = json.loads(out.read_text())
    assert results["config"]["planner"] == "milp" and len(results["episodes"]) == 2
    step = results["episodes"][0]["steps"][0]
    assert set(step) >= {"planning_time", "objective", "gap", "fallback"}
    assert video.read_bytes()[:6] == b"GIF89a"


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["control", "missing.pt"], "does not exist"),
        (["control", "{model}", "--out", "/nonexistent-dir/results.json"], "cannot write"),
        (["control", "{model}", "--env-kwargs", "[1]"], "must be a JSON object"),
        (["control", "{model}", "--env-kwargs", '{"shape": "t", "num_objects": 3}'], "cannot be made"),
        (["control", "{model}", "--disagreement-weight", "2"], "give the second with --disagreement"),
        (["control", "{model}", "--disagreement", "{model}", "--data-ranges"], "has no recorded data ranges"),
        (["control", "{model}", "--disagreement", "missing.pt"], "--disagreement: model file missing.pt does not"),
        (["control", "{model}", "--disagreement", "{model}"], "they never disagree"),
    ],
)
def test_control_command_errors_are_one_line(tmp_path, metadata, capsys, arguments, message):
    model_path = tmp_path / "model.pt"
    save_checkpoint(model_path, small_model(metadata), metadata, info={})
    code = main([argument.replace("{model}", str(model_path)) for argument in arguments])
    error = capsys.readouterr().err
    assert code == 1 and message in error and len(error.strip().splitlines()) == 1


def test_control_command_plans_on_two_models_with_their_disagreement_priced(tmp_path, metadata, capsys):
    paths = [tmp_path / "main.pt", tmp_path / "other.pt"]
    for seed, path in enumerate(paths):
        save_checkpoint(path, small_model(metadata, seed), metadata, info={})
    out = tmp_path / "results.json"
    arguments = ["control", str(paths[0]), "--disagreement", str(paths[1]), "--disagreement-weight", "2"]
    arguments += ["--horizon", "3", "--episodes", "1", "--steps", "2", "--time-limit", "0.5", "--out", str(out)]
    assert main([*arguments, "--no-progress"]) == 0
    results = json.loads(out.read_text())
    assert results["config"]["disagreement"] == str(paths[1]) and results["config"]["disagreement_weight"] == 2.0
    (episode,) = results["episodes"]
    assert len(episode["steps"]) == 2 and not any(step["fallback"] for step in episode["steps"])
    sorting = gymnasium.make("sparsedyn/ObjectSorting-v0", num_objects=2).unwrapped.dataset_metadata(seed=0)
    save_checkpoint(tmp_path / "sorting.pt", small_model(sorting), sorting, info={})
    capsys.readouterr()
    code = main(["control", str(paths[0]), "--disagreement", str(tmp_path / "sorting.pt"), "--out", str(out)])
    error = capsys.readouterr().err
    assert code == 1 and "is of sparsedyn/ObjectSorting-v0" in error and len(error.strip().splitlines()) == 1


def test_success_is_judged_by_the_env_threshold():
    sorting = gymnasium.make("sparsedyn/ObjectSorting-v0", num_objects=2).unwrapped.dataset_metadata(seed=0)
    model = small_model(sorting)
    results = run_closed_loop(
        make_planner("random", model),
        sorting,
        ControlSettings(horizon=2, steps=1, time_limit=0.1),
        episodes=3,
        seed=0,
        show_progress=False,
    )
    assert results["summary"]["success_threshold"] == 6.0  # 3 cm per disc, 2 discs
    for episode in results["episodes"]:
        assert episode["success"] == (episode["final_cost"] < 6.0)


def test_a_model_of_fixed_size_refuses_another_number_of_objects(tmp_path, capsys):
    sorting = gymnasium.make("sparsedyn/ObjectSorting-v0", num_objects=2).unwrapped.dataset_metadata(seed=0)
    model_path = tmp_path / "model.pt"
    save_checkpoint(model_path, small_model(sorting), sorting, info={})
    code = main(["control", str(model_path), "--env-kwargs", '{"num_objects": 3}', "--out", str(tmp_path / "r.json")])
    error = capsys.readouterr().err
    assert code == 1 and "only a graph model runs on another number of objects" in error


@pytest.mark.parametrize("planner_name", PLANNER_NAMES)
@pytest.mark.parametrize(
    "env_id, size, edge_set, threshold",
    [
        ("sparsedyn/ObjectSorting-v0", "num_objects", "all_pairs", 12.0),  # 3 cm per disc
        ("sparsedyn/RopeShaping-v0", "num_particles", "chain", 1.0),  # 1 cm mean particle distance
    ],
)
def test_every_planner_runs_a_graph_model_on_another_number_of_objects(planner_name, env_id, size, edge_set, threshold):
    trained_on = gymnasium.make(env_id, **{size: 3}).unwrapped.dataset_metadata(seed=0)
    torch.manual_seed(0)
    model = GraphDynamics(num_objects=3, action_dim=2, hidden=(6, 6), message_dim=3, edge_set=edge_set).eval()
    for network in (model.edge, model.node):
        network.set_kinds([np.array([2, 2, 1, 0, 2, 1]), np.array([1, 2, 0, 0, 1, 2])])
    metadata = env_metadata(trained_on, {size: 4})
    assert graph_objects(metadata) == 4
    check_model_fits(model, metadata)
    planner = make_planner(planner_name, model, seed=0, num_objects=graph_objects(metadata))
    results = run_closed_loop(
        planner,
        metadata,
        ControlSettings(horizon=2, time_limit=0.3, steps=2),
        episodes=1,
        seed=5,
        fallback_planner=make_fallback_planner(model),
        show_progress=False,
    )
    episode = results["episodes"][0]
    assert len(episode["steps"]) == 2 and results["summary"]["success_threshold"] == threshold
    assert not any(step["fallback"] for step in episode["steps"]) or planner_name == "milp-exact"


@pytest.mark.parametrize("planner_name", ["milp", "milp-exact", "mppi"])
def test_obstacles_reach_the_planner_and_collisions_are_recorded(tmp_path, metadata, planner_name, capsys):
    model = small_model(metadata)
    with_obstacles = env_metadata(metadata, {"obstacles": 2})
    settings = ControlSettings(horizon=2, time_limit=0.5, steps=3)
    seen = []

    class Spy:
        def __init__(self, planner):
            self.planner = planner

        def plan(self, problem):
            seen.append(problem)
            return self.planner.plan(problem)

    results = run_closed_loop(
        Spy(make_planner(planner_name, model, seed=0)),
        with_obstacles,
        settings,
        episodes=2,
        seed=5,
        fallback_planner=make_fallback_planner(model),
        show_progress=False,
    )
    first, second = results["episodes"]
    assert len(first["obstacles"]) == 2 and first["obstacles"] != second["obstacles"]
    assert [len(problem.obstacles) for problem in seen] == [4] * 6  # pusher and outline, per obstacle
    np.testing.assert_array_equal(seen[0].obstacles[0].vertices, first["obstacles"][0])
    np.testing.assert_array_equal(seen[-1].obstacles[0].vertices, second["obstacles"][0])
    for episode in results["episodes"]:
        for step in episode["steps"]:
            assert {"object_collision", "pusher_collision"} <= set(step)
            assert step["predicted_collision"] in (True, False) or step["fallback"]
            if planner_name.startswith("milp") and not step["fallback"] and not step["status"].startswith("sampled"):
                assert step["predicted_collision"] is False  # the MILP's plans keep out
        assert episode["collision_steps"] == sum(
            step["object_collision"] or step["pusher_collision"] for step in episode["steps"]
        )
    summary = results["summary"]
    assert summary["obstacles"] and summary["collision_episodes"] == sum(
        episode["collision_steps"] > 0 for episode in results["episodes"]
    )
    assert summary["predicted_collision_plans"] == sum(
        bool(step["predicted_collision"]) for episode in results["episodes"] for step in episode["steps"]
    )
    table = summary_table({"run": summary})
    assert "collision episodes" in table.splitlines()[0] and f"{summary['predicted_collision_plans']}/6" in table
    assert "collision" not in summary_table({"run": {**summary, "obstacles": False}})


def test_control_command_passes_obstacles_and_an_action_cost_to_the_task(tmp_path, metadata, capsys, monkeypatch):
    import mpc.control.runner as runner

    model_path = tmp_path / "model.pt"
    save_checkpoint(model_path, small_model(metadata), metadata, info={"kind_counts": {}})
    out = tmp_path / "results.json"
    planned_with = []
    original = runner.control_task
    monkeypatch.setattr(
        runner, "control_task", lambda meta, settings: planned_with.append(settings) or original(meta, settings)
    )
    code = main(
        [
            "control",
            str(model_path),
            "--planner",
            "milp",
            "--horizon",
            "2",
            "--episodes",
            "1",
            "--steps",
            "2",
            "--time-limit",
            "0.5",
            "--env-kwargs",
            '{"obstacles": 1}',
            "--obstacle-margin",
            "2",
            "--obstacle-weight",
            "5",
            "--action-weight",
            "0.3",
            "--terminal-weight",
            "0.4",
            "--discount",
            "0.8",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    names = ("obstacle_margin", "obstacle_weight", "action_weight", "terminal_weight", "discount")
    given = (2.0, 5.0, 0.3, 0.4, 0.8)
    assert [tuple(getattr(settings, name) for name in names) for settings in planned_with] == [given]
    results = json.loads(out.read_text())
    assert tuple(results["config"][name] for name in names) == given
    episode = results["episodes"][0]
    assert len(episode["obstacles"]) == 1 and "collision_steps" in episode
    printed = capsys.readouterr()
    assert "plans predicting a collision" in printed.out and "control:" in printed.err  # the progress bar


@pytest.mark.slow
def test_the_demo_runs_every_planner_on_the_bundled_models_and_writes_its_files(tmp_path, capsys):
    from mpc.cli import DEMO_FILES, DEMO_RUNS

    out = tmp_path / "demo"
    arguments = [
        "demo",
        "--episodes",
        "1",
        "--steps",
        "2",
        "--time-limit",
        "0.1",
        "--out-dir",
        str(out),
        "--no-progress",
    ]
    assert main(arguments) == 0
    printed = capsys.readouterr()
    table = printed.out
    assert "control:" not in printed.err and "running milp" in printed.err  # labels, no bars
    assert [line.split(" / ")[0].strip("| ") for line in table.splitlines()[2 : 2 + len(DEMO_RUNS)]] == [
        planner for planner, _ in DEMO_RUNS
    ]
    for name in DEMO_FILES.values():
        assert (out / name).stat().st_size > 0
