"""Errors a user of the planners and the control CLI can cause, and solver outcomes to catch."""


class MPCError(Exception):
    """Base class: the CLI prints the message and exits non-zero."""


class ProblemError(MPCError):
    """A planning problem is malformed: wrong dimensions, non-finite numbers, empty action box."""


class InfeasibleError(MPCError):
    """The program has no feasible point (for example contradictory state constraints)."""


class NoIncumbentError(MPCError):
    """The solver stopped (time limit) before finding any feasible plan; the controller falls back."""


class NonFiniteError(MPCError):
    """Every plan a planner evaluated has a non-finite cost or predicted state (the model overflows, or the
    cost weights are too large for float32); the controller falls back."""


class NumericsError(MPCError):
    """The planning program holds numbers HiGHS cannot solve reliably (big-M values grown without a workspace
    box, or a model's weights beyond any exact rescaling): refused before solving, instead of a wrong optimum
    reported as optimal."""
