"""The sampling-speed and model-gap benchmark scripts (examples/bench_sampling_speed.py, bench_model_gap.py)."""

from __future__ import annotations

import importlib.util
import json
import types
from pathlib import Path

import gymnasium
import numpy as np
import pytest
import torch

from dynamics.checkpoint import load_checkpoint
from dynamics.compact import compact
from dynamics.gates import GatedMLP

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

pytestmark = pytest.mark.usefixtures("one_thread")


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_speed_benchmarks_gated_form_is_the_full_width_model():
    bench = load_script("bench_sampling_speed")
    model = load_checkpoint(EXAMPLES / "checkpoints" / "pushing_sparse.pt").model
    gated = bench.Gated(model)
    assert compact(gated) is gated  # out of compact's reach: the planners evaluate it at full width
    assert any(isinstance(module, GatedMLP) for module in gated.held[0].modules())
    state, action = torch.randn(5, 10), torch.randn(5, 2)
    with torch.no_grad():
        torch.testing.assert_close(gated(state, action), model(state, action))


def test_the_speed_table_gives_medians_and_their_ratio():
    bench = load_script("bench_sampling_speed")
    records = [
        {"model": "m", "planner": "mppi", "form": form, "iterations_per_second": rate, "objective": 1.0}
        for form, rates in (("gated", (100, 90, 110)), ("compact", (200, 250, 210)))
        for rate in rates
    ]
    assert "| m | mppi | 100 | 210 | 2.10x |" in bench.table(records)


def test_the_model_gap_table_counts_episodes_whose_plans_promise_more():
    bench = load_script("bench_model_gap")

    def run(planner, seed, realised):
        step = {"planned": 10.0, "realised": realised, "one_step_error": 0.1, "horizon_error": 0.2, "at_bound": 0.25}
        # Plans of 3 actions of 1 entry; the second keeps the first's last two (change 0) or not (change 1).
        second = [[1.0], [2.0], [2.0]] if planner == "milp" else [[2.0], [3.0], [3.0]]
        steps = [{**step, "actions": [[0.0], [1.0], [2.0]]}, {**step, "actions": second}]
        return {"planner": planner, "seed": seed, "final_cost": 1.0, "steps": steps}

    episodes = [run("milp", 0, 15.0), run("mppi", 0, 12.0), run("milp", 1, 11.0), run("mppi", 1, 13.0)]
    text = bench.table(episodes)
    assert "| milp | 2 | 1.00 | 40 | 52 | 1.300 |" in text and "| mppi | 2 | 1.00 | 40 | 50 | 1.250 |" in text
    assert "| 0.25 | 0.000 |" in text and "| 0.25 | 1.000 |" in text  # actions at bound, replanning change
    assert "milp's realised / planned above mppi's in 1 of 2 episodes" in text
    assert "milp's final cost below mppi's in 0 of 2 episodes" in text  # all final costs equal


def test_the_model_gap_benchmark_replays_every_plan(tmp_path):
    bench = load_script("bench_model_gap")
    arguments = ["--model", str(EXAMPLES / "checkpoints" / "pushing_sparse.pt"), "--planners", "mppi", "random"]
    arguments += ["--episodes", "1", "--steps", "2", "--budget", "0.05", "--out", str(tmp_path)]
    assert bench.main(arguments) == 0
    episodes = json.loads((tmp_path / "bench_model_gap.json").read_text())["episodes"]
    assert [run["planner"] for run in episodes] == ["mppi", "random"]
    for run in episodes:
        assert len(run["steps"]) == 2
        assert len(run["cost_curve"]) == 3 and run["cost_curve"][-1] == run["final_cost"]
        for step in run["steps"]:
            assert step["planned"] > 0 and step["realised"] > 0
            assert 0 <= step["one_step_error"] <= step["horizon_error"] * 9  # the horizon mean includes step 1
    assert "realised / planned above" in (tmp_path / "bench_model_gap.md").read_text()


def test_actions_at_the_box_bounds_are_counted_per_entry():
    bench = load_script("bench_model_gap")
    task = types.SimpleNamespace(action_low=np.array([-2.5, -1.0]), action_high=np.array([2.5, 1.0]))
    actions = np.array([[2.5, 0.0], [-2.46, 0.985], [0.0, -0.97]])  # 2.46 is 0.8% of the width from -2.5
    assert bench.at_bound(actions, task) == pytest.approx(3 / 6)


def test_the_model_world_steps_by_the_model_and_its_plans_realise_what_they_promise(tmp_path):
    bench = load_script("bench_model_gap")
    checkpoint = load_checkpoint(EXAMPLES / "checkpoints" / "pushing_sparse.pt")
    world = bench.ModelWorld(gymnasium.make(checkpoint.metadata["env_id"]), checkpoint.model)
    state, _ = world.reset(seed=3)
    action = np.array([1.0, -2.0], dtype=np.float32)
    following, reward, *_, info = world.step(action)
    with torch.no_grad():
        expected = checkpoint.model(torch.as_tensor(state)[None], torch.as_tensor(action)[None])[0].numpy()
    np.testing.assert_array_equal(following, expected)
    assert info["cost"] == world.unwrapped.task_cost(expected) == -reward
    arguments = ["--model", str(EXAMPLES / "checkpoints" / "pushing_sparse.pt"), "--planners", "milp", "mppi"]
    arguments += ["--world", "model", "--episodes", "1", "--steps", "2", "--budget", "0.1", "--out", str(tmp_path)]
    assert bench.main(arguments) == 0
    for run in json.loads((tmp_path / "bench_model_gap.json").read_text())["episodes"]:
        for step in run["steps"]:
            assert step["realised"] == pytest.approx(step["planned"], rel=1e-4)
            assert step["horizon_error"] < 1e-3


@pytest.mark.slow  # the env's placement tries every start it may before it gives up (about 8 s)
def test_a_replay_keeps_the_episode_s_obstacles_even_where_no_new_ones_would_fit():
    bench = load_script("bench_model_gap")
    env, twin = (gymnasium.make("sparsedyn/ObjectPushing-v0", obstacles=2) for _ in range(2))
    env.reset(seed=5)
    centre = env.unwrapped.goal.reshape(-1, 2).mean(axis=0)
    at_goal = np.r_[centre * (1 - 8 / np.linalg.norm(centre)), env.unwrapped.goal]  # the object on its goal
    with pytest.raises(Exception, match="cannot place"):  # what a replay without the obstacles ran into
        twin.reset(seed=5, options={"state": at_goal, "goal": env.unwrapped.goal})
    replayed, info = twin.reset(seed=5, options=bench.replay_options(env, at_goal))
    np.testing.assert_allclose(replayed, at_goal, atol=1e-4)
    for mine, theirs in zip(info["obstacles"], env.unwrapped.obstacles, strict=True):
        np.testing.assert_array_equal(mine, theirs)


def test_the_model_gap_benchmark_takes_env_options(tmp_path):
    bench = load_script("bench_model_gap")
    arguments = ["--model", str(EXAMPLES / "checkpoints" / "pushing_sparse.pt"), "--planners", "mppi"]
    arguments += ["--env-kwargs", '{"obstacles": 1}', "--episodes", "1", "--steps", "2", "--budget", "0.05"]
    for world in ("simulator", "model"):
        assert bench.main([*arguments, "--world", world, "--out", str(tmp_path / world)]) == 0
        (run,) = json.loads((tmp_path / world / "bench_model_gap.json").read_text())["episodes"]
        assert run["obstacles"] == 1 and run["collision_steps"] in (0, 1, 2) and isinstance(run["success"], bool)


def test_with_a_second_model_the_gap_prices_the_first_model_s_predictions_alone(tmp_path):
    """In the model world the first model's plans realise what they promise: the disagreement's price is planned
    with, never counted in the planned cost."""
    bench = load_script("bench_model_gap")
    arguments = ["--model", str(EXAMPLES / "checkpoints" / "pushing_sparse.pt"), "--planners", "milp", "mppi"]
    arguments += ["--disagreement", str(EXAMPLES / "checkpoints" / "pushing_relu32.pt"), "--disagreement-weight", "5"]
    arguments += ["--world", "model", "--episodes", "1", "--steps", "2", "--budget", "0.2", "--out", str(tmp_path)]
    assert bench.main(arguments) == 0
    saved = json.loads((tmp_path / "bench_model_gap.json").read_text())
    assert saved["settings"]["disagreement_weight"] == 5
    for run in saved["episodes"]:
        for step in run["steps"]:
            assert step["realised"] == pytest.approx(step["planned"], rel=1e-4)
            assert step["objective"] >= step["planned"] * (1 - 1e-4)  # the plan's objective adds the price
        assert any(step["objective"] > step["planned"] * 1.001 for step in run["steps"])  # two models disagree


def test_a_shadow_planner_plans_from_the_same_states_as_the_loop_s_planner(tmp_path):
    """In the model world a plan realises what it promises only when replayed from the state it was planned from:
    the shadow's plans do, so it planned from the loop's states."""
    bench = load_script("bench_model_gap")
    arguments = ["--model", str(EXAMPLES / "checkpoints" / "pushing_sparse.pt"), "--planners", "mppi"]
    arguments += ["--shadow", "random", "--world", "model", "--episodes", "1", "--steps", "3", "--budget", "0.05"]
    assert bench.main([*arguments, "--out", str(tmp_path)]) == 0
    (run,) = json.loads((tmp_path / "bench_model_gap.json").read_text())["episodes"]
    assert run["shadow"] == "random" and len(run["steps"]) == 3
    for step in run["steps"]:
        assert step["shadow"]["realised"] == pytest.approx(step["shadow"]["planned"], rel=1e-4)
        assert step["shadow"]["planned"] != step["planned"]  # its own plan, not the loop planner's
        for plan in (step, step["shadow"]):  # the cost by step adds up to the plan's cost
            assert len(plan["realised_steps"]) == len(plan["planned_steps"]) == 8
            assert sum(plan["planned_steps"]) == pytest.approx(plan["planned"])
    assert "same states (mppi's loop, 3 steps), mppi against random" in (tmp_path / "bench_model_gap.md").read_text()


def test_the_same_state_lines_count_steps_whose_plans_promise_and_give_less():
    bench = load_script("bench_model_gap")

    def step(planned, realised, shadow_planned, shadow_realised):
        own = {"planned": planned, "realised": realised, "realised_steps": [realised / 2, realised / 2]}
        shadow = {"planned": shadow_planned, "realised": shadow_realised, "realised_steps": [1.0, shadow_realised - 1]}
        return {**own, "shadow": shadow}

    # milp promises less in steps 1 and 2, gives less in steps 2 and 3; its first steps all realise more (5.5 or 7).
    steps = [step(8.0, 14.0, 10.0, 12.0), step(9.0, 10.0, 10.0, 11.0), step(11.0, 11.0, 10.0, 12.0)]
    lines = bench.same_state_lines([{"planner": "milp", "shadow": "mppi", "steps": steps}])
    assert "mean planned 9.3 / 10.0, mean realised 11.7 / 11.7" in lines[0]
    assert lines[1] == (
        "milp's plan planned below mppi's in 2 of 3 steps, realised below in 2; of the steps it planned below, "
        "realised below in 1"
    )
    assert lines[2] == "realised cost of the first step alone: mean 5.83 / 1.00, milp's below in 0 of 3 steps"
    assert bench.same_state_lines([{"planner": "milp", "shadow": None, "steps": [{"planned": 1.0}]}]) == []


def test_along_the_loop_counts_the_episodes_where_the_first_planner_is_ahead_at_each_step():
    bench = load_script("bench_model_gap")
    steps = np.arange(26.0)

    def run(planner, seed, curve):
        return {"planner": planner, "seed": seed, "cost_curve": list(curve)}

    # Seed 0: milp ahead until step 9, behind from step 10; seed 1: milp behind throughout.
    episodes = [
        run("milp", 0, np.where(steps < 10, 1.0, 3.0)),
        run("mppi", 0, np.full(26, 2.0)),
        run("milp", 1, np.full(26, 5.0)),
        run("mppi", 1, np.full(26, 4.0)),
        run("milp", 2, np.full(26, 4.0)),  # seed 2: a tie throughout, neither below nor above
        run("mppi", 2, np.full(26, 4.0)),
    ]
    (line,) = bench.along_the_loop("milp", "mppi", episodes)
    assert line.startswith("milp's task cost below / above mppi's along the loop (episodes; medians milp / mppi): ")
    assert "step 3: 1 / 1 of 3 (4.00 / 4.00); step 6: 1 / 1 of 3" in line and "step 9: 1 / 1 of 3" in line
    assert "step 12: 0 / 2 of 3 (4.00 / 4.00)" in line and line.endswith("step 25: 0 / 2 of 3 (4.00 / 4.00)")
    episodes[0].pop("cost_curve")  # a run recorded before the curves were kept
    assert bench.along_the_loop("milp", "mppi", episodes) == []


def test_compare_prints_the_table_of_runs_made_apart_and_refuses_other_seeds(tmp_path, capsys):
    bench = load_script("bench_model_gap")
    step = {"planned": 10.0, "realised": 12.0, "one_step_error": 0.1, "horizon_error": 0.2, "at_bound": 0.0}
    step["actions"] = [[0.0], [1.0]]

    def write(folder, planner, seeds, final):
        runs = [
            {
                "planner": planner,
                "seed": seed,
                "final_cost": final,
                "cost_curve": [5.0] * 3 + [final],
                "steps": [step] * 3,
            }
            for seed in seeds
        ]
        (tmp_path / folder).mkdir(parents=True)
        record = {"settings": {"steps": 3}, "episodes": runs}
        (tmp_path / folder / "bench_model_gap.json").write_text(json.dumps(record))

    write("a", "milp", [0, 1], 1.0)
    write("b", "milp", [0, 1], 2.0)  # the same planner in another setting: named by its folder
    write("c", "mppi", [5, 6], 2.0)
    assert bench.main(["--compare", str(tmp_path / "a"), str(tmp_path / "b")]) == 0
    text = capsys.readouterr().out
    assert "| milp (a) | 2 | 1.00 |" in text and "| milp (b) | 2 | 2.00 |" in text
    assert "milp (a)'s final cost below milp (b)'s in 2 of 2 episodes" in text
    assert "along the loop (episodes; medians milp (a) / milp (b)): step 3: 2 / 0 of 2 (1.00 / 2.00)" in text
    with pytest.raises(SystemExit):
        bench.main(["--compare", str(tmp_path / "a"), str(tmp_path / "c")])
    error = capsys.readouterr().err
    assert "--compare:" in error and "ran seeds 5-6 of 3 steps, the first folder 0-1 of 3" in error
    write("d/a", "mppi", [0, 1], 2.0)  # another run in a folder of the first one's name
    with pytest.raises(SystemExit):
        bench.main(["--compare", str(tmp_path / "a"), str(tmp_path / "d" / "a")])
    assert "same last name" in capsys.readouterr().err
