"""Training runs on the toy pushing system: sparsification to the target, determinism, resume, NaN."""

import os

import numpy as np
import pytest
import torch
from toy import toy_transitions

import dynamics.train
from dynamics.checkpoint import load_checkpoint, save_checkpoint
from dynamics.errors import CheckpointError, DataError, ModelConfigError, TrainingError
from dynamics.train import TrainConfig, plan_stages, train

TINY = TrainConfig(
    hidden=(16, 16), relu_target=5, rollout_steps=3, epochs=3, phase_epochs=2, batch_size=64, eval_steps=4
)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data():
    return toy_transitions(episodes=20, steps=25, seed=1)


def same_weights(first: torch.nn.Module, second: torch.nn.Module) -> bool:
    a, b = first.state_dict(), second.state_dict()
    return a.keys() == b.keys() and all(torch.equal(a[key], b[key]) for key in a)


def test_sparsifies_to_the_target_and_records_counts_and_metrics(data, tmp_path):
    result = train(data, TINY, tmp_path / "m.pt", show_progress=False)
    counts = result.model.kind_counts()
    assert counts["relu"] <= 5
    assert sum(counts.values()) == 32
    assert result.model.export().relu_count == counts["relu"]
    saved = load_checkpoint(tmp_path / "m.pt")
    assert saved.info["kind_counts"] == counts
    assert saved.info["progress"]["complete"] and saved.training is None
    assert saved.metadata == data.metadata
    for name in ("dense", "sparse"):
        metrics = saved.info["metrics"][name]
        assert metrics["one_step_rmse"] > 0 and metrics["rollout_rmse"] > 0 and metrics["rollout_steps"] == 4
    assert same_weights(saved.model, result.model)


def test_without_target_the_model_stays_dense(data, tmp_path):
    result = train(data, TrainConfig(hidden=(8,), epochs=2, batch_size=64), tmp_path / "m.pt", show_progress=False)
    assert result.model.kind_counts() == {"zero": 0, "identity": 0, "relu": 8}
    assert result.info["metrics"]["sparse"] is None


def test_stage_plan_halves_the_budget_and_ends_with_the_target():
    stages = plan_stages(TINY)
    assert [(stage.kind, stage.budget) for stage in stages] == [
        ("dense", None),
        ("gates", 16),
        ("finetune", 16),
        ("gates", 8),
        ("finetune", 8),
        ("gates", 5),
        ("finetune", 5),
    ]
    assert [stage.final for stage in stages] == [False] * 5 + [True] * 2


def test_same_seed_same_model_other_seed_other_model(data, tmp_path):
    first = train(data, TINY, tmp_path / "a.pt", show_progress=False)
    second = train(data, TINY, tmp_path / "b.pt", show_progress=False)
    third = train(data, TrainConfig(**{**TINY.__dict__, "seed": 1}), tmp_path / "c.pt", show_progress=False)
    assert same_weights(first.model, second.model)
    assert first.info["metrics"] == second.info["metrics"]
    assert not same_weights(first.model, third.model)


def test_interrupted_run_resumes_to_the_same_model(data, tmp_path, monkeypatch):
    reference = train(data, TINY, tmp_path / "reference.pt", show_progress=False)
    saves = []

    def save_then_crash(*args, **kwargs):  # dies right after the 5th checkpoint, inside a gate phase
        save_checkpoint(*args, **kwargs)
        saves.append(args[0])
        if len(saves) == 5:
            raise KeyboardInterrupt

    monkeypatch.setattr(dynamics.train, "save_checkpoint", save_then_crash)
    with pytest.raises(KeyboardInterrupt):
        train(data, TINY, tmp_path / "m.pt", show_progress=False)
    interrupted = load_checkpoint(tmp_path / "m.pt")
    assert not interrupted.info["progress"]["complete"] and interrupted.training is not None
    monkeypatch.undo()

    resumed = train(data, TINY, tmp_path / "m.pt", resume=True, show_progress=False)
    assert same_weights(resumed.model, reference.model)
    assert resumed.info["metrics"] == reference.info["metrics"]
    assert load_checkpoint(tmp_path / "m.pt").info["progress"]["complete"]


def test_resume_refuses_other_options_or_other_data(data, tmp_path):
    train(data, TINY, tmp_path / "m.pt", show_progress=False)
    with pytest.raises(CheckpointError, match="rollout_steps"):
        train(
            data,
            TrainConfig(**{**TINY.__dict__, "rollout_steps": 2}),
            tmp_path / "m.pt",
            resume=True,
            show_progress=False,
        )
    with pytest.raises(CheckpointError, match="different data"):
        train(toy_transitions(episodes=20, steps=25, seed=2), TINY, tmp_path / "m.pt", resume=True, show_progress=False)


def test_nan_loss_stops_training_and_keeps_the_last_good_checkpoint(data, tmp_path, monkeypatch):
    calls = []
    real_loss = dynamics.train.rollout_loss

    def loss_turning_nan(*args):
        calls.append(None)
        loss = real_loss(*args)
        return loss * float("nan") if len(calls) > 15 else loss  # an epoch is 6 batches: NaN in epoch 3

    monkeypatch.setattr(dynamics.train, "rollout_loss", loss_turning_nan)
    with pytest.raises(TrainingError, match="NaN|nan") as error:
        train(data, TINY, tmp_path / "m.pt", show_progress=False)
    assert "last good checkpoint" in str(error.value)
    kept = load_checkpoint(tmp_path / "m.pt")
    assert kept.info["progress"] == {**kept.info["progress"], "stage": 0, "epoch": 2, "complete": False}
    assert all(torch.isfinite(p).all() for p in kept.model.parameters())


def test_nan_in_the_first_epoch_writes_nothing(data, tmp_path):
    with pytest.raises(TrainingError, match="not written"):
        train(data, TrainConfig(**{**TINY.__dict__, "learning_rate": 1e30}), tmp_path / "m.pt", show_progress=False)
    assert os.listdir(tmp_path) == []


def test_target_larger_than_the_network_is_refused(data, tmp_path):
    with pytest.raises(ModelConfigError, match="33"):
        train(data, TrainConfig(**{**TINY.__dict__, "relu_target": 33}), tmp_path / "m.pt", show_progress=False)


def test_data_with_a_single_episode_is_refused(data, tmp_path):
    one_episode = toy_transitions(episodes=1, steps=25)
    with pytest.raises(DataError, match="episode"):
        train(one_episode, TINY, tmp_path / "m.pt", show_progress=False)


def test_validation_holds_out_whole_episodes(data, tmp_path):
    run = dynamics.train.TrainingRun(data, TINY, tmp_path / "m.pt")
    train_episodes = set(run.train_data.episode_ids.tolist())
    validation_episodes = set(run.validation_data.episode_ids.tolist())
    assert validation_episodes and not train_episodes & validation_episodes
    assert len(train_episodes) + len(validation_episodes) == np.unique(data.episode_ids).size
