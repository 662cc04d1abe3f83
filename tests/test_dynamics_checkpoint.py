"""Checkpoints: round trip, atomic writes, clear errors on missing or corrupt files."""

import os

import numpy as np
import pytest
import torch
from toy import toy_transitions

import dynamics.checkpoint
from dynamics.checkpoint import load_checkpoint, save_checkpoint
from dynamics.errors import CheckpointError
from dynamics.mlp import MLPDynamics

METADATA = toy_transitions(episodes=2, steps=3).metadata
INFO = {"kind_counts": {"zero": 3, "identity": 2, "relu": 7}, "metrics": {"dense": None, "sparse": None}}


def sparse_model() -> MLPDynamics:
    torch.manual_seed(0)
    model = MLPDynamics(2, 1, (6, 6))
    model.set_kinds([np.array([2, 2, 1, 0, 2, 0]), np.array([2, 2, 2, 1, 0, 2])])
    with torch.no_grad():
        model.delta_std.fill_(0.5)
    return model


def test_round_trip_keeps_model_gates_normalisation_metadata_and_info(tmp_path):
    model = sparse_model()
    save_checkpoint(tmp_path / "m.pt", model, METADATA, INFO)
    loaded = load_checkpoint(tmp_path / "m.pt")
    assert not loaded.model.training
    assert loaded.metadata == METADATA and loaded.info == INFO and loaded.training is None
    assert loaded.model.kind_counts() == model.kind_counts() == {"zero": 3, "identity": 2, "relu": 7}
    state, action = torch.randn(10, 2), torch.randn(10, 1)
    with torch.no_grad():
        assert torch.equal(loaded.model(state, action), model.eval()(state, action))


def test_a_crash_while_writing_leaves_the_previous_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "m.pt"
    save_checkpoint(path, sparse_model(), METADATA, INFO)
    before = path.read_bytes()

    def crash_halfway(content, file):
        file.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(dynamics.checkpoint.torch, "save", crash_halfway)
    with pytest.raises(OSError):
        save_checkpoint(path, MLPDynamics(2, 1, (3,)), METADATA, {})
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.pt"]


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")


@pytest.mark.parametrize("content", [b"not a checkpoint", b""])
def test_corrupt_file_is_a_clear_error(tmp_path, content):
    (tmp_path / "bad.pt").write_bytes(content)
    with pytest.raises(CheckpointError, match="not a readable"):
        load_checkpoint(tmp_path / "bad.pt")


def test_truncated_checkpoint_is_a_clear_error(tmp_path):
    save_checkpoint(tmp_path / "m.pt", sparse_model(), METADATA, INFO)
    data = (tmp_path / "m.pt").read_bytes()
    (tmp_path / "m.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "m.pt")


def test_other_torch_files_are_refused(tmp_path):
    torch.save({"weights": torch.zeros(3)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a sparsedyn model checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


def test_unwritable_directory_is_a_clear_error(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        save_checkpoint(tmp_path / "nowhere" / "m.pt", sparse_model(), METADATA, INFO)
