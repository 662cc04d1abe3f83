"""Writing output files: the one atomic write and the one check that an output path can be written.

Every file the project writes (transition data, model checkpoints, result JSON) goes through
`write_atomically`: the content goes to a temporary file in the same directory, is flushed to disk and
then renamed over the target (`os.replace`), so a crash or a full disk never leaves a half-written file
and a reader sees the old file or the new one. The file gets the mode the user's umask gives (as for a
plain `open(path, "w")`), not the 0600 of `tempfile.mkstemp`.

A command checks its outputs with `check_writable` before any long work, so a typo in `--out` fails at
once, not after an hour of training. Both take the error type to raise, so each package keeps its own
(CollectionError, CheckpointError, MPCError, ...); the message is the same everywhere.
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


def write_atomically(path: str | Path, write: Callable[[BinaryIO], object],
                     error: type[Exception] = OutputPathError) -> None:
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
