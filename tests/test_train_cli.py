"""`sparsedyn train` and `sparsedyn inspect` end to end on small toy data files."""

import numpy as np
import pytest
import torch
from toy import ENV_ID, toy_transitions

import dynamics.train
from dynamics.checkpoint import load_checkpoint, save_checkpoint
from dynamics.mlp import MLPDynamics
from mpc.main import main

TINY = [
    "--hidden",
    "16,16",
    "--rollout-steps",
    "3",
    "--epochs",
    "3",
    "--phase-epochs",
    "2",
    "--batch-size",
    "64",
    "--eval-steps",
    "4",
    "--quiet",
    "--device",
    "cpu",
]  # bit-for-bit resume is asserted on the CPU (GPU: test_device)


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)  # the command sets its own thread count


@pytest.fixture
def data_file(tmp_path):
    path = tmp_path / "data.npz"
    toy_transitions(episodes=20, steps=25, seed=3).save(path)
    return path


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(code: int, err: str, *fragments: str) -> None:
    assert code != 0
    assert err.count("\n") == 1 and err.startswith("sparsedyn train: error: ")
    for fragment in fragments:
        assert fragment in err


def test_train_then_inspect(capsys, data_file, tmp_path):
    out = tmp_path / "model.pt"
    code, stdout, _ = run(capsys, "train", data_file, "--relu-target", 6, "--out", out, *TINY)
    assert code == 0
    checkpoint = load_checkpoint(out)
    counts = checkpoint.info["kind_counts"]
    assert counts["relu"] <= 6 and sum(counts.values()) == 32
    assert checkpoint.metadata["env_id"] == ENV_ID
    assert checkpoint.info["config"]["relu_target"] == 6

    code, report, _ = run(capsys, "inspect", out)
    assert code == 0
    assert report == stdout.rstrip("\n") + "\n"  # train ends with the same summary
    assert ENV_ID in report
    assert f"relu {counts['relu']}, identity {counts['identity']}, zero {counts['zero']}" in report
    for name in ("dense", "sparse"):
        metrics = checkpoint.info["metrics"][name]
        line = next(line for line in report.splitlines() if line.split()[:1] == [name])
        assert line.split()[1:] == [f"{metrics['one_step_rmse']:.4g}", f"{metrics['rollout_rmse']:.4g}"]
    assert "4-step RMSE" in report and "complete" in report


def test_dense_model_without_target(capsys, data_file, tmp_path):
    code, stdout, _ = run(capsys, "train", data_file, "--out", tmp_path / "m.pt", *TINY)
    assert code == 0
    assert "relu 32, identity 0, zero 0" in stdout
    assert not any(line.split()[:1] == ["sparse"] for line in stdout.splitlines())


def test_missing_data_file(capsys, tmp_path):
    code, _, err = run(capsys, "train", tmp_path / "none.npz", "--out", tmp_path / "m.pt", *TINY)
    assert_one_line_error(code, err, "does not exist")


def test_malformed_data_files(capsys, tmp_path):
    (tmp_path / "garbage.npz").write_bytes(b"this is no npz archive")
    code, _, err = run(capsys, "train", tmp_path / "garbage.npz", "--out", tmp_path / "m.pt", *TINY)
    assert_one_line_error(code, err, "garbage.npz")
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    code, _, err = run(capsys, "train", tmp_path / "other.npz", "--out", tmp_path / "m.pt", *TINY)
    assert_one_line_error(code, err, "not a sparsedyn transition file")
    assert not (tmp_path / "m.pt").exists()


def test_target_larger_than_the_network(capsys, data_file, tmp_path):
    code, _, err = run(capsys, "train", data_file, "--relu-target", 33, "--out", tmp_path / "m.pt", *TINY)
    assert_one_line_error(code, err, "--relu-target 33", "32 hidden neurons")


def test_bad_hidden_widths(capsys, data_file, tmp_path):
    code, _, err = run(capsys, "train", data_file, "--out", tmp_path / "m.pt", *TINY, "--hidden", "16,x")
    assert_one_line_error(code, err, "--hidden")


def test_data_from_another_env_than_requested(capsys, data_file, tmp_path):
    code, _, err = run(capsys, "train", data_file, "--env", "ObjectPushing-v0", "--out", tmp_path / "m.pt", *TINY)
    assert_one_line_error(code, err, ENV_ID, "ObjectPushing-v0")
    code, _, _ = run(capsys, "train", data_file, "--env", ENV_ID.split("/")[-1], "--out", tmp_path / "m.pt", *TINY)
    assert code == 0


def test_resume_with_data_of_another_env(capsys, data_file, tmp_path):
    out = tmp_path / "m.pt"
    assert run(capsys, "train", data_file, "--out", out, *TINY)[0] == 0
    other = toy_transitions(episodes=20, steps=25, seed=3)
    other.metadata["env_id"] = "sparsedyn/SomethingElse-v0"
    other.save(tmp_path / "other.npz")
    code, _, err = run(capsys, "train", tmp_path / "other.npz", "--out", out, "--resume", *TINY)
    assert_one_line_error(code, err, "sparsedyn/SomethingElse-v0")


def test_nan_loss_is_a_clean_error_and_keeps_the_last_good_checkpoint(capsys, data_file, tmp_path):
    out = tmp_path / "m.pt"
    assert run(capsys, "train", data_file, "--out", out, *TINY)[0] == 0
    good = out.read_bytes()
    code, _, err = run(capsys, "train", data_file, "--out", out, "--lr", "1e30", *TINY)
    assert_one_line_error(code, err, "nan")
    assert out.read_bytes() == good
    # absurd values in the data file overflow the loss the same way
    absurd = toy_transitions(episodes=20, steps=25, seed=3)
    absurd.next_observations[::7] = 3e38
    absurd.save(tmp_path / "absurd.npz")
    code, _, err = run(capsys, "train", tmp_path / "absurd.npz", "--out", out, *TINY)
    assert code != 0 and err.startswith("sparsedyn train: error: ") and err.count("\n") == 1
    assert out.read_bytes() == good


def test_interrupted_run_resumes_to_the_same_model(capsys, data_file, tmp_path, monkeypatch):
    reference, out = tmp_path / "reference.pt", tmp_path / "m.pt"
    assert run(capsys, "train", data_file, "--relu-target", 6, "--out", reference, *TINY)[0] == 0
    real_save, saves = dynamics.train.save_checkpoint, []

    def save_then_interrupt(*args, **kwargs):  # Ctrl-C right after the 4th checkpoint
        real_save(*args, **kwargs)
        saves.append(args[0])
        if len(saves) == 4:
            raise KeyboardInterrupt

    monkeypatch.setattr(dynamics.train, "save_checkpoint", save_then_interrupt)
    code, _, err = run(capsys, "train", data_file, "--relu-target", 6, "--out", out, *TINY)
    assert code == 130 and "interrupted" in err
    monkeypatch.undo()
    code, report, _ = run(capsys, "inspect", out)
    assert code == 0 and "unfinished" in report

    assert run(capsys, "train", data_file, "--relu-target", 6, "--out", out, "--resume", *TINY)[0] == 0
    resumed, expected = load_checkpoint(out), load_checkpoint(reference)
    assert resumed.info["metrics"] == expected.info["metrics"]
    assert all(
        torch.equal(a, b) for a, b in zip(resumed.model.state_dict().values(), expected.model.state_dict().values())
    )
    code, _, err = run(capsys, "train", data_file, "--relu-target", 5, "--out", out, "--resume", *TINY)
    assert_one_line_error(code, err, "relu_target")


def test_inspect_missing_or_corrupt_model(capsys, tmp_path):
    code, _, err = main(["inspect", str(tmp_path / "none.pt")]), *capsys.readouterr()
    assert code == 1 and "does not exist" in err and err.count("\n") == 1
    (tmp_path / "bad.pt").write_bytes(b"\x00" * 100)
    code, _, err = main(["inspect", str(tmp_path / "bad.pt")]), *capsys.readouterr()
    assert code == 1 and "bad.pt" in err and err.count("\n") == 1


def test_inspect_a_checkpoint_saved_without_training_facts(capsys, tmp_path):
    save_checkpoint(tmp_path / "bare.pt", MLPDynamics(2, 1, (4,)), toy_transitions(episodes=2, steps=3).metadata, {})
    code, _, err = main(["inspect", str(tmp_path / "bare.pt")]), *capsys.readouterr()
    assert code == 1 and "not the facts" in err and err.count("\n") == 1


def test_inspect_reports_the_errors_on_other_data(capsys, data_file, tmp_path):
    out = tmp_path / "m.pt"
    assert run(capsys, "train", data_file, "--out", out, *TINY)[0] == 0
    code, report, _ = main(["inspect", str(out), "--data", str(data_file)]), *capsys.readouterr()
    assert code == 0 and report.splitlines()[-1].startswith(
        f"data        {data_file}: 500 transitions, state 2; one-step RMSE "
    )
    wide = toy_transitions(episodes=4, steps=5)
    wide.observations, wide.next_observations = np.tile(wide.observations, 2), np.tile(wide.next_observations, 2)
    wide.metadata.update({key: wide.metadata[key] * 2 for key in ("state_layout", "workspace_low", "workspace_high")})
    wide.save(tmp_path / "wide.npz")
    code, _, err = main(["inspect", str(out), "--data", str(tmp_path / "wide.npz")]), *capsys.readouterr()
    assert code == 1 and err.count("\n") == 1 and "reads 2 states and 1 actions, the data has 4 and 1" in err


def test_train_on_several_data_files_of_one_system(capsys, data_file, tmp_path):
    other = tmp_path / "more.npz"
    toy_transitions(episodes=10, steps=25, seed=4).save(other)
    out = tmp_path / "model.pt"
    code, _, err = run(capsys, "train", data_file, other, "--out", out, *TINY)
    assert code == 0, err
    info = load_checkpoint(out).info
    assert info["data"]["transitions"] == (20 + 10) * 25
    assert info["data"]["train_transitions"] + info["data"]["validation_transitions"] == 30 * 25
    assert 0 < info["data"]["validation_episodes"] < 30

    foreign = toy_transitions(episodes=10, steps=25, seed=5)
    foreign.metadata["action_high"] = [2.0]
    foreign.save(tmp_path / "foreign.npz")
    code, _, err = run(capsys, "train", data_file, tmp_path / "foreign.npz", "--out", tmp_path / "m2.pt", *TINY)
    assert_one_line_error(code, err, "another system", "action_high")


def test_control_help_gives_every_setting_its_default(capsys):
    assert main(["control", "--help"]) == 0
    shown = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    for option, default in [
        ("--planner", "milp"),
        ("--horizon", "8"),
        ("--episodes", "5"),
        ("--seed", "1000"),
        ("--out", "control_results.json"),
    ]:
        assert f"(default: {default})" in shown.split(option, 2)[2].split(" --", 1)[0], option
