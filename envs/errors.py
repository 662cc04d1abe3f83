"""Errors a user of the environments and data collection can cause."""


class EnvsError(Exception):
    """Base class: the CLI prints the message and exits non-zero."""


class DatasetError(EnvsError):
    """A transition file is missing, malformed or inconsistent with its metadata."""


class UnknownEnvError(EnvsError):
    """An environment id that is not one of the registered sparsedyn environments."""


class EnvOptionsError(EnvsError, ValueError):
    """Constructor arguments or reset options an environment cannot use."""


class SimulationError(EnvsError):
    """The simulator produced a non-finite state or one outside the workspace."""


class OutputPathError(EnvsError):
    """An output file cannot be written there: its directory is missing or read-only, or it is a directory."""


class CollectionError(EnvsError):
    """A data collection request that cannot be carried out (bad counts, unwritable output, ...)."""
