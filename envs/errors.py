"""Errors a user of the environments and data collection can cause."""


class EnvsError(Exception):
    """Base class: the CLI prints the message and exits non-zero."""


class DatasetError(EnvsError):
    """A transition file is missing, malformed or inconsistent with its metadata."""
