"""What the controller plans for: the control settings of a run, and the task they make for an env.

`control_task` builds the Task (mpc.problem: a planning problem minus state, goal and warm start) of
`sparsedyn control` from an env's dataset metadata and the ControlSettings; `goal_features` puts
the env's goal in that task's cost-feature order; `with_obstacles` adds an episode's obstacles;
`observed_task` drops what the env does not observe (a disagreement's entries).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from mpc.errors import MPCError, ProblemError
from mpc.problem import OBSTACLE_WEIGHT, Obstacle, Task, point_maps

DISAGREEMENT_WEIGHT = 1.0  # cost per cm of two models' disagreement where a pair is given without a weight


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
        discount: the factor in (0, 1] on the goal and action weights (the reach term's too) of each planned step
            after the first (step t's times discount^(t-1), mpc.problem.Task); 1: none.
        obstacle_spacing: with obstacles, the largest gap (state units, cm) between the points kept out
            along the object's outline (its keypoints and points between them); see with_obstacles.
        obstacle_margin: with obstacles, the soft band (cm) beyond what contact needs, where a point pays
            obstacle_weight per cm of depth: room for the model's error and for the motion between two
            steps (mpc.problem.Obstacle's soft_margin).
        obstacle_weight: the hinge weight on a point's depth (cost per cm, per point and step;
            mpc.problem.Task): all of the sampling planners' obstacle handling, the MILP's soft band.
        disagreement_weight: L1 weight of the disagreement of two models on every goal entry, at steps 1..H
            (cost per state unit); 0: none. Above 0 the model must carry it (dynamics.disagreement, on the
            env's goal entries); see control_task.
    """

    horizon: int = 8
    time_limit: float = 1.0
    steps: int = 30
    running_weight: float = 0.2
    terminal_weight: float = 1.0
    reach_weight: float = 0.1
    action_weight: float = 0.0
    discount: float = 1.0
    obstacle_spacing: float = 2.0
    obstacle_margin: float = 1.0
    obstacle_weight: float = OBSTACLE_WEIGHT
    disagreement_weight: float = 0.0


def control_task(metadata: dict, settings: ControlSettings) -> Task:
    """The task of `sparsedyn control` on the env described by dataset `metadata`.

    The planning cost is the L1 distance of the goal entries (object keypoints) to the goal, plus,
    where the state has a pusher, a small L1 "reach" term on the pusher's offset from the centre of
    the goal entries (two more cost features, goal 0). Without it the cost is flat until the pusher
    touches the object, and no planner can see which way to go from farther than its horizon. The
    action box and the workspace box come from the metadata.

    With a disagreement weight the model's state is the env's followed by g unobserved entries, the
    disagreement of two models on the g goal entries (dynamics.disagreement.DisagreementDynamics with the
    metadata's goal_indices): g more cost features, goal 0, weighted by it at every step, unbounded in
    the workspace box.

    Args:
        metadata: an env's dataset metadata ("state_layout", "goal_indices", "action_low",
            "action_high", "workspace_low", "workspace_high").
        settings: horizon, time limit and weights.

    Raises:
        ProblemError: a negative or non-finite disagreement weight.

    Shapes:
        with n state entries, g goal entries and nu action entries: cost_matrix (k, n) with k = g, or
        g + 2 with the reach term (and g more with the disagreement, whose entries make n + g columns);
        state and terminal weights (k,); action box (nu,); workspace (n,) (n + g).
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
    if not (np.isfinite(settings.disagreement_weight) and settings.disagreement_weight >= 0):
        raise ProblemError(f"disagreement_weight must be a non-negative number, got {settings.disagreement_weight}")
    workspace_low, workspace_high = np.asarray(metadata["workspace_low"]), np.asarray(metadata["workspace_high"])
    unobserved = len(goal_indices) if settings.disagreement_weight > 0 else 0
    if unobserved:
        rows = np.block(
            [[rows, np.zeros((len(rows), unobserved))], [np.zeros((unobserved, len(layout))), np.eye(unobserved)]]
        )
        running = np.append(running, [settings.disagreement_weight] * unobserved)
        terminal = np.append(terminal, [settings.disagreement_weight] * unobserved)
        workspace_low = np.append(workspace_low, [-np.inf] * unobserved)
        workspace_high = np.append(workspace_high, [np.inf] * unobserved)
    return Task(
        horizon=settings.horizon,
        action_low=np.asarray(metadata["action_low"], dtype=np.float64),
        action_high=np.asarray(metadata["action_high"], dtype=np.float64),
        state_weights=running,
        terminal_weights=terminal,
        action_weight=settings.action_weight,
        discount=settings.discount,
        cost_matrix=rows,
        workspace_low=workspace_low,
        workspace_high=workspace_high,
        time_limit=settings.time_limit,
        obstacle_weight=settings.obstacle_weight,
        unobserved=unobserved,
    )


def observed_task(task: Task) -> Task:
    """The task on the env's observed state alone: without its unobserved state entries (Task.unobserved)
    and the cost features, workspace entries and obstacle point columns over them (control_task's
    disagreement); the task itself where it has none. Prices what the env gives: the realised cost of a plan."""
    if not task.unobserved:
        return task
    observed = task.cost_matrix.shape[1] - task.unobserved
    keep = ~task.cost_matrix[:, observed:].any(axis=1)
    obstacles = tuple(
        dataclasses.replace(obstacle, points=obstacle.points[..., :observed]) for obstacle in task.obstacles
    )
    return dataclasses.replace(
        task,
        cost_matrix=task.cost_matrix[keep, :observed],
        state_weights=task.state_weights[keep],
        terminal_weights=task.terminal_weights[keep],
        workspace_low=task.workspace_low[:observed],
        workspace_high=task.workspace_high[:observed],
        obstacles=obstacles,
        unobserved=0,
    )


def goal_features(task: Task, goal: np.ndarray) -> np.ndarray:
    """The env's goal entries (g,) in the cost-feature order of `control_task`, (k,): zero for the reach term."""
    features = np.zeros(len(task.state_weights))
    features[: len(goal)] = goal
    return features


def with_obstacles(task: Task, metadata: dict, polygons, state: np.ndarray, settings: ControlSettings) -> Task:
    """The task with an episode's obstacles as planning obstacles (mpc.problem.Obstacle), two per polygon.

    The pusher (a disc) keeps out of the polygon by its radius (the hard margin). The object keeps out
    with the points of its outline: the keypoints in order around it and points evenly between
    neighbours, at most `obstacle_spacing` apart. A straight piece of outline between two points that
    both keep half their gap away from the polygon cannot cross it (each of its points is within half
    the gap of one of them), so the outline points keep out by half their largest gap (the hard
    margin). Both have the soft band `obstacle_margin` beyond. The outline is the object's exactly for a
    polygon whose corners are the keypoints (the pushing box), an approximation otherwise (the T).

    Args:
        task: the episode's task (control_task); its obstacles are replaced.
        metadata: the env's dataset metadata, with "obstacles" (envs.pushing: the pusher's radius and
            state entries, the keypoints' state entries in order around the object).
        polygons: the episode's obstacles, corners (V, 2) each, in state units (info["obstacles"]).
        state: the episode's first observation (n,): the outline's lengths (the object is rigid).
        settings: obstacle_spacing, obstacle_margin (the task's obstacle_weight comes from control_task).

    Raises:
        MPCError: obstacles in an env whose metadata does not say how to keep out of them.
    """
    if not len(polygons):
        return dataclasses.replace(task, obstacles=())
    if "obstacles" not in metadata:
        raise MPCError(f"{metadata['env_id']} has obstacles but its metadata does not describe them")
    described = metadata["obstacles"]
    state = np.concatenate([state, np.zeros(task.unobserved)])  # the model's state: point maps over all of it
    n = len(state)
    pusher, corners = point_maps([described["pusher"]], n), point_maps(described["outline"], n)
    outline, gap = [], 0.0
    for first, second in zip(corners, np.roll(corners, -1, axis=0)):
        length = float(np.linalg.norm((second - first) @ state))
        pieces = max(1, math.ceil(length / settings.obstacle_spacing))
        outline += [first + (second - first) * step / pieces for step in range(pieces)]
        gap = max(gap, length / pieces)
    obstacles = []
    for polygon in polygons:
        vertices = np.asarray(polygon, dtype=np.float64)
        obstacles.append(Obstacle(vertices, pusher, described["pusher_radius"], settings.obstacle_margin))
        obstacles.append(Obstacle(vertices, np.array(outline), gap / 2, settings.obstacle_margin))
    return dataclasses.replace(task, obstacles=tuple(obstacles))
