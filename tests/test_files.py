"""envs.files: every output file is written atomically with the mode the umask gives, and an output path
that cannot be written is refused before any work, with each package's error type."""

import json
import os
import stat

import numpy as np
import pytest

from dynamics.checkpoint import load_checkpoint, save_checkpoint
from dynamics.errors import CheckpointError
from dynamics.mlp import MLPDynamics
from envs.dataset import REQUIRED_METADATA, Transitions, load_transitions
from envs.errors import DatasetError, OutputPathError
from envs.files import check_writable, write_atomically
from mpc.control.results import save_json
from mpc.errors import MPCError
from mpc.main import main


def small_transitions():
    metadata = {key: None for key in REQUIRED_METADATA} | {
        "state_layout": ["x", "y"],
        "action_low": [-1.0],
        "action_high": [1.0],
        "workspace_low": [-1.0, -1.0],
        "workspace_high": [1.0, 1.0],
    }
    states = np.arange(6, dtype=np.float32).reshape(3, 2)
    return Transitions(states, np.zeros((3, 1), np.float32), states + 1, np.zeros(3, np.int64), metadata)


def same_transitions(path):
    return np.array_equal(load_transitions(path).observations, small_transitions().observations)


# every writer of the project: how to write, the error type it raises for a bad path, a check of what it wrote
WRITERS = {
    "write_atomically": (
        lambda path: write_atomically(path, lambda file: file.write(b"content")),
        OutputPathError,
        lambda path: path.read_bytes() == b"content",
    ),
    "Transitions.save": (lambda path: small_transitions().save(path), DatasetError, same_transitions),
    "save_checkpoint": (
        lambda path: save_checkpoint(path, MLPDynamics(2, 1, (3,)), {"env_id": "x"}, {}),
        CheckpointError,
        lambda path: load_checkpoint(path).metadata == {"env_id": "x"},
    ),
    "save_json": (
        lambda path: save_json({"cost": float("nan")}, path),
        MPCError,
        lambda path: json.loads(path.read_text()) == {"cost": None},
    ),
}


@pytest.fixture
def umask():
    """Set the process umask for one test (`umask(0o027)`), then restore it."""
    previous = os.umask(0o022)
    yield os.umask
    os.umask(previous)


@pytest.mark.parametrize("writer", WRITERS)
@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_files_get_the_mode_the_umask_gives(writer, mask, umask, tmp_path):
    write, _, read = WRITERS[writer]
    umask(mask)
    path = tmp_path / "out.file"
    write(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask
    assert read(path)
    path.chmod(0o600)
    write(path)  # replacing a file: the new file again gets the umask's mode
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask
    assert os.listdir(tmp_path) == ["out.file"]  # no temporary file left behind


@pytest.mark.parametrize("writer", WRITERS)
def test_an_existing_directory_is_refused_with_the_writers_error(writer, tmp_path):
    write, error, _ = WRITERS[writer]
    (tmp_path / "out").mkdir()
    with pytest.raises(error, match="cannot write .*out: it is a directory"):
        write(tmp_path / "out")
    with pytest.raises(error, match="directory .*missing does not exist or is not writable"):
        write(tmp_path / "missing" / "out.file")
    assert os.listdir(tmp_path) == ["out"] and os.listdir(tmp_path / "out") == []


def test_a_directory_is_refused_before_any_work(tmp_path):
    calls = []
    with pytest.raises(OutputPathError, match="it is a directory"):
        write_atomically(tmp_path, calls.append)
    assert calls == []
    with pytest.raises(MPCError, match="it is a directory"):
        check_writable(tmp_path, MPCError)
    assert check_writable(str(tmp_path / "new.npz")) == tmp_path / "new.npz"


def test_a_relative_path_is_written_in_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_atomically("plain", lambda file: file.write(b"1"))
    assert (tmp_path / "plain").read_bytes() == b"1"


@pytest.mark.parametrize("failure", [OSError("disk full"), KeyboardInterrupt()])
def test_a_failed_write_leaves_the_previous_file_and_no_temporary(tmp_path, failure):
    path = tmp_path / "data.bin"
    path.write_bytes(b"previous")

    def write_half(file):
        file.write(b"half")
        raise failure

    with pytest.raises(type(failure)):
        write_atomically(path, write_half)
    assert path.read_bytes() == b"previous" and os.listdir(tmp_path) == ["data.bin"]


@pytest.mark.parametrize("option", ["--out", "--video"])
def test_control_refuses_a_directory_before_loading_the_model(option, tmp_path, capsys):
    code = main(["control", str(tmp_path / "missing.pt"), option, str(tmp_path)])
    error = capsys.readouterr().err
    assert code == 1 and "it is a directory" in error and "missing.pt" not in error
