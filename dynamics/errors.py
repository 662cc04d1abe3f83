"""Errors a user of the dynamics models and the training CLI can cause."""


class DynamicsError(Exception):
    """Base class: the CLI prints the message and exits non-zero."""
