"""What the controller plans for: the control settings of a run, and the task they make for an env.

`control_task` builds the Task (mpc.problem: a planning problem minus state, goal and warm start) of
`sparsedyn control` from an env's dataset metadata and the ControlSettings; `goal_features` puts
the env's goal in that task's cost-feature order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mpc.problem import Task


@dataclass
class ControlSettings:
    """Everything a closed-loop run needs besides the model and the planner.

    Args:
        horizon: planning horizon H in control steps.
        time_limit: planning budget per control step, in seconds.
        steps: control steps per episode.
        running_weight: L1 weight of every goal entry's distance at steps 1..H-1 (cost per state unit).
        terminal_weight: L1 weight of every goal entry's distance at step H.
        reach_weight: L1 weight of the pusher's offset from the centre of the goal entries (0: none);
            see control_task.
        action_weight: L1 weight of every action entry (cost per action unit).
    """

    horizon: int = 8
    time_limit: float = 1.0
    steps: int = 30
    running_weight: float = 0.2
    terminal_weight: float = 1.0
    reach_weight: float = 0.1
    action_weight: float = 0.0


def control_task(metadata: dict, settings: ControlSettings) -> Task:
    """The task of `sparsedyn control` on the env described by dataset `metadata`.

    The planning cost is the L1 distance of the goal entries (object keypoints) to the goal, plus,
    where the state has a pusher, a small L1 "reach" term on the pusher's offset from the centre of
    the goal entries (two more cost features, goal 0). Without it the cost is flat until the pusher
    touches the object, and no planner can see which way to go from farther than its horizon. The
    action box and the workspace box come from the metadata.

    Args:
        metadata: an env's dataset metadata ("state_layout", "goal_indices", "action_low",
            "action_high", "workspace_low", "workspace_high").
        settings: horizon, time limit and weights.

    Shapes:
        with n state entries, g goal entries and nu action entries: cost_matrix (k, n) with k = g, or
        g + 2 with the reach term; state and terminal weights (k,); action box (nu,); workspace (n,).
    """
    layout, goal_indices = metadata["state_layout"], list(metadata["goal_indices"])
    rows = np.eye(len(layout))[goal_indices]
    running = np.full(len(goal_indices), settings.running_weight)
    terminal = np.full(len(goal_indices), settings.terminal_weight)
    if {"pusher_x", "pusher_y"} <= set(layout) and settings.reach_weight > 0:
        reach = np.zeros((2, len(layout)))
        for row, axis in enumerate("xy"):
            reach[row, layout.index(f"pusher_{axis}")] = 1.0
            entries = [index for index in goal_indices if layout[index].endswith(f"_{axis}")]
            reach[row, entries] = -1.0 / len(entries)
        rows = np.vstack([rows, reach])
        running = np.append(running, [settings.reach_weight] * 2)
        terminal = np.append(terminal, [settings.reach_weight] * 2)
    return Task(
        horizon=settings.horizon,
        action_low=np.asarray(metadata["action_low"], dtype=np.float64),
        action_high=np.asarray(metadata["action_high"], dtype=np.float64),
        state_weights=running,
        terminal_weights=terminal,
        action_weight=settings.action_weight,
        cost_matrix=rows,
        workspace_low=np.asarray(metadata["workspace_low"]),
        workspace_high=np.asarray(metadata["workspace_high"]),
        time_limit=settings.time_limit,
    )


def goal_features(task: Task, goal: np.ndarray) -> np.ndarray:
    """The env's goal entries (g,) in the cost-feature order of `control_task`, (k,): zero for the reach term."""
    features = np.zeros(len(task.state_weights))
    features[: len(goal)] = goal
    return features
