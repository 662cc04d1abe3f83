"""The settings of a control task, free of heavy imports so that the CLI can show their defaults."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ControlSettings:
    """Everything a closed-loop run needs besides the model and the planner."""

    horizon: int = 8
    time_limit: float = 1.0
    steps: int = 30
    running_weight: float = 0.2
    terminal_weight: float = 1.0
    reach_weight: float = 0.1
    action_weight: float = 0.0
