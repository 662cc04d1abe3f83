"""Data collection: seeded parallel rollouts, exploration that makes contact, the `collect` command."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import envs  # noqa: F401  (registers the environments)
from envs.collect import collect_transitions
from envs.dataset import REQUIRED_METADATA, load_transitions
from envs.errors import CollectionError, DatasetError, UnknownEnvError
from envs.pushing import ObjectPushingEnv
from envs.rope import RopeShapingEnv
from envs.sorting import ObjectSortingEnv
from mpc.main import main

ENV_ID = "sparsedyn/ObjectPushing-v0"


def episode_seed(seed, episode):
    """The reset seed collection derives for an episode (see envs.collect)."""
    env_seed, _ = np.random.SeedSequence(seed, spawn_key=(episode,)).spawn(2)
    return int(env_seed.generate_state(1)[0])


def test_transitions_are_consecutive_steps_within_the_boxes():
    data = collect_transitions("ObjectPushing-v0", episodes=5, steps=20, seed=3)
    meta = data.metadata
    assert len(data) == 100 and meta["episodes"] == 5 and meta["episodes_dropped"] == 0
    assert np.array_equal(data.episode_ids, np.repeat(np.arange(5), 20))
    for episode in range(5):
        rows = data.episode_ids == episode
        assert np.array_equal(data.observations[rows][1:], data.next_observations[rows][:-1])
    assert np.all(data.actions >= np.array(meta["action_low"])) and np.all(
        data.actions <= np.array(meta["action_high"])
    )
    for states in (data.observations, data.next_observations):
        assert np.all(states >= np.array(meta["workspace_low"])) and np.all(states <= np.array(meta["workspace_high"]))


@pytest.mark.parametrize(
    "env_id, env_class, kwargs",
    [
        ("ObjectPushing-v0", ObjectPushingEnv, {"shape": "t"}),
        ("ObjectSorting-v0", ObjectSortingEnv, {"num_objects": 3}),
        ("RopeShaping-v0", RopeShapingEnv, {"num_particles": 12}),
    ],
)
def test_transitions_replay_in_a_fresh_env(env_id, env_class, kwargs):
    data = collect_transitions(env_id, episodes=2, steps=15, seed=11, env_kwargs=kwargs)
    env = env_class(**kwargs)
    for episode in range(2):
        rows = data.episode_ids == episode
        observation, _ = env.reset(seed=episode_seed(11, episode))
        assert np.array_equal(observation, data.observations[rows][0])
        for action, expected in zip(data.actions[rows], data.next_observations[rows]):
            observation, *_ = env.step(action)
            assert np.array_equal(observation, expected)


def test_data_does_not_depend_on_worker_count_but_on_seed():
    single = collect_transitions(ENV_ID, episodes=6, steps=10, seed=5, workers=1)
    parallel = collect_transitions(ENV_ID, episodes=6, steps=10, seed=5, workers=2)
    for name in ("observations", "actions", "next_observations", "episode_ids"):
        assert getattr(single, name).tobytes() == getattr(parallel, name).tobytes()
    assert single.metadata == parallel.metadata
    other = collect_transitions(ENV_ID, episodes=6, steps=10, seed=6, workers=1)
    assert not np.array_equal(single.observations, other.observations)


def test_exploration_moves_the_object_in_most_transitions_from_every_side():
    data = collect_transitions(ENV_ID, episodes=40, steps=50, seed=0)
    before = data.observations[:, 2:].reshape(-1, 4, 2).astype(np.float64)
    after = data.next_observations[:, 2:].reshape(-1, 4, 2).astype(np.float64)
    moved = np.abs(after - before).max(axis=(1, 2)) > 0.01
    assert data.metadata["moved_fraction"] == pytest.approx(moved.mean())
    assert 0.5 <= moved.mean() < 0.95  # mostly contact, yet some free and near-miss moves

    # in the object's own frame, pushes come from all four sides
    edge = before[:, 1] - before[:, 0]
    angle = np.arctan2(edge[:, 1], edge[:, 0])
    shift = after.mean(axis=1) - before.mean(axis=1)
    local_shift_angle = np.arctan2(shift[:, 1], shift[:, 0]) - angle
    side = np.floor(((local_shift_angle + math.pi / 4) % (2 * math.pi)) / (math.pi / 2)).astype(int)
    large = moved & (np.linalg.norm(shift, axis=1) > 0.5)
    counts = np.bincount(side[large], minlength=4)
    assert counts.min() > 0.1 * counts.sum()
    # off-centre contact turns the object both ways
    turn = np.arctan2(after[:, 1, 1] - after[:, 0, 1], after[:, 1, 0] - after[:, 0, 0]) - angle
    turn = (turn + math.pi) % (2 * math.pi) - math.pi
    assert (turn > 0.05).mean() > 0.05 and (turn < -0.05).mean() > 0.05
    # the object stays mostly where goals are sampled
    centres = before.mean(axis=1)
    assert np.mean(np.abs(centres).max(axis=1) <= 10.0) > 0.8


def test_diverged_episode_is_dropped_and_counted(monkeypatch):
    clean = collect_transitions(ENV_ID, episodes=4, steps=10, seed=2)
    original_reset = ObjectPushingEnv.reset
    doomed_seeds = {episode_seed(2, 1)}

    def reset_then_corrupt(self, *, seed=None, options=None):
        """Reset, then put the object at NaN in the doomed episodes: the next step finds a diverged state."""
        result = original_reset(self, seed=seed, options=options)
        if seed in doomed_seeds:
            self._object.position = (math.nan, math.nan)
        return result

    monkeypatch.setattr(ObjectPushingEnv, "reset", reset_then_corrupt)
    data = collect_transitions(ENV_ID, episodes=4, steps=10, seed=2)
    assert data.metadata["episodes_dropped"] == 1 and data.metadata["episodes"] == 3
    keep = clean.episode_ids != 1
    assert np.array_equal(data.episode_ids, clean.episode_ids[keep])
    assert np.array_equal(data.observations, clean.observations[keep])

    doomed_seeds.update(episode_seed(2, episode) for episode in range(2))
    with pytest.raises(CollectionError, match="diverged in all 2 episodes"):
        collect_transitions(ENV_ID, episodes=2, steps=5, seed=2)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"env_id": "Nope-v0"}, UnknownEnvError, "unknown environment 'Nope-v0'; available: ObjectPushing-v0"),
        ({"env_id": "CartPole-v1"}, UnknownEnvError, "unknown environment"),
        ({"episodes": 0}, CollectionError, "episodes must be a positive integer"),
        ({"steps": -3}, CollectionError, "steps must be a positive integer"),
        ({"workers": 0}, CollectionError, "workers must be a positive integer"),
        ({"seed": -1}, CollectionError, "seed must be a non-negative integer"),
    ],
)
def test_bad_requests_raise_typed_errors(kwargs, error, message):
    request = {"env_id": ENV_ID, "episodes": 2, "steps": 5, "seed": 0} | kwargs
    with pytest.raises(error, match=message):
        collect_transitions(**request)


@pytest.mark.parametrize(
    "name, env_class, kwargs, state_dim",
    [
        ("ObjectPushing-v0", ObjectPushingEnv, {"shape": "t"}, 10),
        ("ObjectSorting-v0", ObjectSortingEnv, {"num_objects": 6, "num_classes": 3}, 14),
        ("RopeShaping-v0", RopeShapingEnv, {"num_particles": 8}, 18),
    ],
)
def test_cli_collect_writes_a_file_matching_its_metadata(name, env_class, kwargs, state_dim, tmp_path, capsys):
    out = tmp_path / "data.npz"
    code = main(
        [
            "collect",
            name,
            "--episodes",
            "3",
            "--steps",
            "12",
            "--seed",
            "4",
            "--workers",
            "1",
            "--out",
            str(out),
            "--env-kwargs",
            json.dumps(kwargs),
            "--no-progress",
        ]
    )
    assert code == 0
    summary = capsys.readouterr().out.strip()
    assert (
        summary.startswith("collected 36 transitions from 3 episodes")
        and str(out) in summary
        and "% of transitions" in summary
    )

    data = load_transitions(out)
    meta = data.metadata
    assert set(REQUIRED_METADATA) <= set(meta)
    assert meta["env_id"] == f"sparsedyn/{name}" and meta["seed"] == 4 and meta["env_kwargs"] == kwargs
    env = env_class(**kwargs)
    assert meta["state_layout"] == env.state_layout and meta["goal_indices"] == env.goal_indices
    assert meta["workspace_low"] == env.workspace_low.tolist() and meta["action_high"] == env.action_space.high.tolist()
    assert meta == env.dataset_metadata(seed=4) | {
        key: meta[key]
        for key in ("env_id", "episodes", "episodes_dropped", "steps_per_episode", "exploration", "moved_fraction")
    }
    assert data.state_dim == len(meta["state_layout"]) == state_dim and data.action_dim == len(meta["action_low"]) == 2
    assert len(data) == 36 and np.array_equal(np.unique(data.episode_ids), [0, 1, 2])
    for states in (data.observations, data.next_observations):
        assert np.all(states >= np.array(meta["workspace_low"])) and np.all(states <= np.array(meta["workspace_high"]))


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["Nope-v0"], "unknown environment 'Nope-v0'"),
        (["ObjectPushing-v0", "--episodes", "0"], "--episodes: must be a positive integer, got 0"),
        (["ObjectPushing-v0", "--steps", "-5"], "--steps: must be a positive integer, got -5"),
        (["ObjectPushing-v0", "--out", "{missing}/data.npz"], "does not exist or is not writable"),
        (["ObjectPushing-v0", "--out", "{tmp}"], "is a directory"),
        (["ObjectPushing-v0", "--env-kwargs", "{bad"], "--env-kwargs is not valid JSON"),
        (["ObjectPushing-v0", "--env-kwargs", '{"shape": "sphere"}'], "unknown object shape 'sphere'"),
    ],
)
def test_cli_errors_are_one_line_with_nonzero_exit(arguments, message, tmp_path, capsys):
    arguments = [a.replace("{missing}", str(tmp_path / "missing")).replace("{tmp}", str(tmp_path)) for a in arguments]
    if "--out" not in arguments:
        arguments += ["--out", str(tmp_path / "data.npz")]
    code = main(["collect", *arguments, "--no-progress"])  # each fails before any rollout
    captured = capsys.readouterr()
    assert code != 0
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sparsedyn collect: error: ") and message in lines[0]
    assert not list(tmp_path.glob("*.npz"))


def test_cli_reports_an_unwritable_directory(tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    if os.access(locked, os.W_OK):
        pytest.skip("running with permissions that ignore directory modes")
    code = main(["collect", "ObjectPushing-v0", "--episodes", "1", "--out", str(locked / "data.npz")])
    assert code == 1 and "not writable" in capsys.readouterr().err


def sparsedyn_script():
    script = Path(sys.executable).with_name("sparsedyn")
    if not script.exists():
        pytest.skip("the sparsedyn console script is not installed next to this interpreter")
    return str(script)


def test_console_script_error_has_no_traceback(tmp_path):
    result = subprocess.run(
        [sparsedyn_script(), "collect", "Nope-v0", "--out", str(tmp_path / "d.npz")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "sparsedyn collect: error: unknown environment 'Nope-v0'; "
        "available: ObjectPushing-v0, ObjectSorting-v0, RopeShaping-v0"
    ]


@pytest.mark.slow
def test_console_script_collects_in_parallel(tmp_path):
    out = tmp_path / "data.npz"
    result = subprocess.run(
        [
            sparsedyn_script(),
            "collect",
            "ObjectPushing-v0",
            "--episodes",
            "8",
            "--steps",
            "20",
            "--seed",
            "9",
            "--workers",
            "2",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "collected 160 transitions from 8 episodes" in result.stdout
    data = load_transitions(out)
    same = collect_transitions(ENV_ID, episodes=8, steps=20, seed=9, workers=1)
    assert np.array_equal(data.observations, same.observations) and np.array_equal(data.actions, same.actions)


def test_concatenated_transitions_keep_episodes_apart_and_refuse_another_system():
    from toy import toy_transitions

    from envs.dataset import concatenate_transitions

    first, second = toy_transitions(episodes=3, steps=4, seed=0), toy_transitions(episodes=2, steps=4, seed=1)
    joined = concatenate_transitions([first, second])
    assert len(joined) == len(first) + len(second)
    assert np.unique(joined.episode_ids).size == 5
    np.testing.assert_array_equal(joined.observations[len(first) :], second.observations)
    assert joined.metadata["episodes"] == 5 and len(joined.metadata["parts"]) == 2
    second.metadata["state_layout"] = ["a", "b"]
    with pytest.raises(DatasetError, match="another system"):
        concatenate_transitions([first, second])
    with pytest.raises(DatasetError):
        concatenate_transitions([])


def test_collect_onpolicy_writes_reproducible_controller_data(tmp_path, capsys):
    checkpoint = Path(__file__).resolve().parent.parent / "examples" / "checkpoints" / "pushing_sparse.pt"
    outputs = [tmp_path / "a.npz", tmp_path / "b.npz"]
    for out, workers in zip(outputs, (1, 2)):
        code = main(
            [
                "collect-onpolicy",
                str(checkpoint),
                "--episodes",
                "2",
                "--steps",
                "4",
                "--iterations",
                "2",
                "--out",
                str(out),
                "--workers",
                str(workers),
                "--no-progress",
            ]
        )
        assert code == 0, capsys.readouterr().err
    first, second = (load_transitions(out) for out in outputs)
    assert len(first) == 8 and first.metadata["exploration"].startswith("controller (mppi")
    for name in ("observations", "actions", "next_observations", "episode_ids"):
        np.testing.assert_array_equal(getattr(first, name), getattr(second, name))
    assert "controller (mppi" in capsys.readouterr().out
    assert main(["collect-onpolicy", str(checkpoint), "--explore", "1.5", "--out", str(tmp_path / "c.npz")]) == 2


def test_collect_onpolicy_with_the_milp_controller_plans_to_its_time_limit(tmp_path, capsys):
    checkpoint = Path(__file__).resolve().parent.parent / "examples" / "checkpoints" / "pushing_sparse.pt"
    out = tmp_path / "milp.npz"
    arguments = ["collect-onpolicy", str(checkpoint), "--planner", "milp", "--time-limit", "0.05", "--explore", "0"]
    assert main([*arguments, "--episodes", "1", "--steps", "3", "--out", str(out), "--no-progress"]) == 0
    data = load_transitions(out)
    assert len(data) == 3 and data.metadata["exploration"] == "controller (milp, H=8, 0.05 s, explore 0)"
    assert np.all(np.abs(data.actions) <= 2.5)
    explored = collect_transitions(ENV_ID, episodes=1, steps=3, seed=1)  # the exploration policy's own actions
    assert not np.array_equal(data.actions, explored.actions)
    assert main([*arguments, "--time-limit", "0", "--out", str(tmp_path / "c.npz")]) == 2  # the last one counts
