"""Writing output files: the one atomic write and the one check that an output path can be written.

Every file the project writes (transition data, model checkpoints, result JSON) goes through
`write_atomically`: the content goes to a temporary file in the same directory, is flushed to disk and
then renamed over the target (`os.replace`), so a crash or a full disk never leaves a half-written file
and a reader sees the old file or the new one. The file gets the mode the user's umask gives (as for a
plain `open(path, "w")`), not the 0600 of `tempfile.mkstemp`.

A command checks all its outputs with `check_outputs` before any long work, so a typo in `--out` fails at
once, not after an hour of training, and an output that would replace one of the command's inputs (the
training data, the model) or another of its outputs is refused; `check_directory` does the same for an
output folder. All of them take the error type to raise, so each package keeps its own (CollectionError,
CheckpointError, MPCError, ...); the message is the same everywhere.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import BinaryIO, Callable

from envs.errors import OutputPathError

FILE_MODE = 0o666  # before the umask, as open() does


def check_writable(path: str | Path, error: type[Exception] = OutputPathError) -> Path:
    """The output path as a Path, once it is known that a file can be written there.

    Args:
        path: the file to write; it may exist (it is then replaced), but not as a directory.
        error: the exception type to raise, e.g. the calling package's typed error.

    Raises:
        error: `path` is an existing directory, or its directory does not exist or is not writable.
    """
    path = Path(path)
    directory = path.parent
    if path.is_dir():
        raise error(f"cannot write {path}: it is a directory")
    if not directory.is_dir() or not os.access(directory, os.W_OK):
        raise error(f"cannot write {path}: directory {directory} does not exist or is not writable")
    return path


def check_outputs(
    outputs: dict[str, str | Path | None],
    inputs: dict[str, str | Path | None] | None = None,
    error: type[Exception] = OutputPathError,
) -> None:
    """Check every output of a command before it starts: each can be written, and none replaces an input or
    another output.

    Args:
        outputs: the files the command writes, by the name a user knows them by (e.g. "--out"); None: not
            written this time.
        inputs: the files the command reads, by name (e.g. "DATA"); None entries are skipped.
        error: the exception type to raise, e.g. the calling package's typed error.

    Raises:
        error: an output cannot be written (`check_writable`), is the same file as an input (it would be
            replaced before or while it is read), or is the same file as another output.
    """
    named = [(name, Path(path)) for name, path in outputs.items() if path is not None]
    for name, path in named:
        check_writable(path, error)
    sources = [(name, Path(path)) for name, path in (inputs or {}).items() if path is not None]
    for index, (name, path) in enumerate(named):
        for other_name, other in sources + named[:index]:
            if _same_file(path, other):
                role = "input" if (other_name, other) in sources else "output"
                raise error(
                    f"cannot write {name} {path}: it is the {role} {other_name}, which it would replace; "
                    "choose another path"
                )


def check_directory(path: str | Path, error: type[Exception] = OutputPathError) -> Path:
    """An output folder as a Path, once it is known that it exists as a directory or can be made.

    Raises:
        error: `path` (or a folder above it) is an existing file, or the nearest existing folder above it
            is not writable.
    """
    path = Path(path)
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        raise error(f"cannot make the folder {path}: {existing} is a file")
    if existing != path and not os.access(existing, os.W_OK):
        raise error(f"cannot make the folder {path}: {existing} is not writable")
    return path


def _same_file(first: Path, second: Path) -> bool:
    """Whether two paths name one file (also through links or different spellings)."""
    if first.exists() and second.exists():
        return os.path.samefile(first, second)
    return first.resolve() == second.resolve()


def write_atomically(
    path: str | Path, write: Callable[[BinaryIO], object], error: type[Exception] = OutputPathError
) -> None:
    """Write a file atomically: `write(file)` fills a temporary file next to `path`, which then replaces it.

    On any failure (also KeyboardInterrupt) the temporary file is removed and an existing file at `path`
    is left untouched.

    Args:
        path: the file to write.
        write: called once with the temporary file, opened for binary writing.
        error: the exception type `check_writable` raises for an unusable path.

    Raises:
        error: see `check_writable`.
        OSError: writing failed (e.g. the disk is full); whatever `write` raises passes through.
    """
    path = check_writable(path, error)
    handle, temporary = _create_temporary(path)
    try:
        with os.fdopen(handle, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _create_temporary(path: Path) -> tuple[int, Path]:
    """A new hidden file `.<name>.<random>.tmp` next to `path`, created exclusively with FILE_MODE (the
    umask applies): its descriptor and path."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        temporary = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
        try:
            return os.open(temporary, flags, FILE_MODE), temporary
        except FileExistsError:  # a name another writer holds: draw again
            continue
