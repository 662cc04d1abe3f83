"""Obstacles of ObjectPushing-v0 (`obstacles=1..3`): fixed convex polygons in the way of a straight push.

An obstacle is a regular polygon of OBSTACLE_SIDES sides (3 to 6) with circumradius OBSTACLE_RADIUS
(2 cm by default: 3.5 cm triangle sides, a 2.8 cm square, a 4 cm wide hexagon; any radius in
RADIUS_RANGE, 1 to 4 cm, on request; 3 obstacles at most THREE_RADIUS, 2.5 cm), turned by a uniform angle,
fixed to the table (a static pymunk body): the object collides with it, the kinematic pusher passes
through it (it is not stopped, but touching counts as a collision, see envs.pushing).

`place_obstacles` draws them from an episode's start and goal pose so that a straight push collides:
the object moved from its start pose to its goal pose along a straight line (position and angle
interpolated) overlaps the first obstacle; every further one comes within NEAR_PATH of that path. All
keep OBSTACLE_CLEARANCE from the object at its start and goal poses and from the pusher's start (plus
its radius), PASSAGE from each other (the object fits between two of them), and lie inside the
pusher's box: the goal is reachable, and the pusher can get to every side of them.

The geometry helpers work on convex polygons given as (V, 2) arrays of corners in order, in cm.
"""

from __future__ import annotations

import math

import numpy as np

OBSTACLE_SIDES = (3, 4, 5, 6)
OBSTACLE_RADIUS = 2.0  # cm, circumradius (the default)
RADIUS_RANGE = (1.0, 4.0)  # cm: the circumradii an env accepts (at 4 cm a hexagon is 8 cm wide, the object's size)
THREE_RADIUS = 2.5  # cm: the largest circumradius for 3 obstacles (at 3 cm 1 episode in 40 finds no room, at 4 cm 10)
MAX_OBSTACLES = 3
OBSTACLE_CLEARANCE = 2.0  # cm between an obstacle and the object at its start or goal pose, or the pusher's start
PASSAGE = 12.0  # cm between two obstacles: the object (an 8 cm box, 11.3 cm across) passes between them
NEAR_PATH = 5.0  # cm: obstacles after the first come at least this close to the straight push
PATH_POSES = 25  # poses of the straight push checked against an obstacle (< 1 cm apart)
LATERAL_REACH = 10.0  # cm: candidate centres lie at most this far to either side of the start-goal line ...
LINE_REACH = (-0.5, 1.5)  # ... between these fractions of the way from the start's centre to the goal's
PLACEMENT_TRIES = 200  # candidates drawn per obstacle before the placement gives up


def regular_polygon(sides: int, radius: float, centre, angle: float) -> np.ndarray:
    """Counter-clockwise corners (sides, 2) of a regular polygon, one corner at `angle` (rad) from the centre."""
    turns = angle + 2 * math.pi * np.arange(sides) / sides
    return np.asarray(centre, dtype=np.float64) + radius * np.stack([np.cos(turns), np.sin(turns)], axis=1)


def _normals(polygon: np.ndarray) -> np.ndarray:
    edges = np.roll(polygon, -1, axis=0) - polygon
    lengths = np.linalg.norm(edges, axis=1, keepdims=True)
    return np.stack([edges[:, 1], -edges[:, 0]], axis=1)[lengths[:, 0] > 0] / lengths[lengths[:, 0] > 0]


def separation(first: np.ndarray, second: np.ndarray) -> float:
    """The widest gap between two convex polygons along the face normals of either (separating axes).

    Positive: they are apart, by at least this much (their distance is at least the gap along any
    axis); zero or negative: they touch or overlap. A polygon may be a segment (2 corners).
    """
    normals = np.concatenate([_normals(first), _normals(second)])
    first_side, second_side = first @ normals.T, second @ normals.T
    gaps = np.maximum(
        second_side.min(axis=0) - first_side.max(axis=0), first_side.min(axis=0) - second_side.max(axis=0)
    )
    return float(gaps.max())


def point_distance(polygon: np.ndarray, point) -> float:
    """Euclidean distance from a point to a convex polygon, negative inside (minus the distance to the boundary)."""
    point = np.asarray(point, dtype=np.float64)
    edges = np.roll(polygon, -1, axis=0) - polygon
    along = np.clip(np.sum((point - polygon) * edges, axis=1) / np.sum(edges * edges, axis=1), 0.0, 1.0)
    nearest = float(np.linalg.norm(polygon + along[:, None] * edges - point, axis=1).min())
    sides = (point - polygon) @ _normals(polygon).T  # outward normals of counter-clockwise corners
    inside = np.all(sides <= 0) if _area(polygon) > 0 else np.all(sides >= 0)
    return -nearest if inside else nearest


def segment_distance(polygon: np.ndarray, start, end) -> float:
    """Distance from the segment start-end to a convex polygon, 0 where they meet (negative: start is inside)."""
    start, end = np.asarray(start, dtype=np.float64), np.asarray(end, dtype=np.float64)
    if np.allclose(start, end) or point_distance(polygon, start) <= 0:
        return point_distance(polygon, start)
    if separation(polygon, np.stack([start, end])) <= 0:
        return 0.0
    return min(float(_to_segment(polygon, start, end).min()), point_distance(polygon, end))


def _to_segment(points: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Distance of each point (N, 2) to the segment start-end."""
    direction = end - start
    along = np.clip((points - start) @ direction / max(direction @ direction, 1e-12), 0.0, 1.0)
    return np.linalg.norm(start + along[:, None] * direction - points, axis=1)


def _area(polygon: np.ndarray) -> float:
    """Signed area, positive for counter-clockwise corners (shoelace formula)."""
    x, y = polygon[:, 0], polygon[:, 1]
    return float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y) / 2)


def counter_clockwise(polygon: np.ndarray) -> np.ndarray:
    """The corners in counter-clockwise order (a copy)."""
    return polygon.copy() if _area(polygon) > 0 else polygon[::-1].copy()


def is_convex_polygon(polygon: np.ndarray) -> bool:
    """Whether (V, 2) corners, in either order, make a convex polygon with no repeated or collinear corner."""
    if polygon.ndim != 2 or polygon.shape[1] != 2 or len(polygon) < 3 or not np.all(np.isfinite(polygon)):
        return False
    edges = np.roll(polygon, -1, axis=0) - polygon
    following = np.roll(edges, -1, axis=0)
    turns = edges[:, 0] * following[:, 1] - edges[:, 1] * following[:, 0]
    turns = turns if _area(polygon) > 0 else -turns
    angles = np.arctan2(turns, np.sum(edges * following, axis=1))
    return bool(np.all(turns > 0) and np.isclose(angles.sum(), 2 * math.pi))


def place_obstacles(
    rng: np.random.Generator,
    count: int,
    start_pose,
    goal_pose,
    object_at,
    pusher,
    pusher_radius: float,
    limit: float,
    radius: float = OBSTACLE_RADIUS,
) -> list[np.ndarray] | None:
    """`count` obstacles in the way of the straight push from `start_pose` to `goal_pose`, or None if the
    PLACEMENT_TRIES candidates of some obstacle all failed (the caller draws another goal).

    Args:
        rng: the env's random generator (placement is seeded with the episode).
        start_pose, goal_pose: (x, y, angle) of the object, cm and rad.
        object_at: pose -> the object's convex polygons at that pose (list of (V, 2)).
        pusher: the pusher's start (cm); pusher_radius its radius.
        limit: every corner of an obstacle lies in [-limit, limit]^2 (the pusher's box).
        radius: the obstacles' circumradius, cm.

    Returns:
        Counter-clockwise corners (V, 2) of each obstacle, cm.
    """
    start, goal = np.asarray(start_pose, dtype=np.float64), np.asarray(goal_pose, dtype=np.float64)
    path = [object_at(start + (goal - start) * fraction) for fraction in np.linspace(0.0, 1.0, PATH_POSES)]
    ends = path[0] + path[-1]
    line = goal[:2] - start[:2]
    across = np.array([-line[1], line[0]]) / max(np.linalg.norm(line), 1e-9)
    # A cheap first test: no part of the object is farther than `reach` from its centre.
    reach = max(float(np.linalg.norm(polygon - start[:2], axis=1).max()) for polygon in path[0]) + radius
    obstacles: list[np.ndarray] = []
    for index in range(count):
        for _ in range(PLACEMENT_TRIES):
            sides = int(rng.choice(OBSTACLE_SIDES))
            centre = start[:2] + rng.uniform(*LINE_REACH) * line + rng.uniform(-LATERAL_REACH, LATERAL_REACH) * across
            candidate = regular_polygon(sides, radius, centre, rng.uniform(0.0, 2 * math.pi))
            near = 0.0 if index == 0 else NEAR_PATH
            if (
                np.all(np.abs(candidate) <= limit)
                and _to_segment(centre[None], start[:2], goal[:2])[0] <= reach + near
                and point_distance(candidate, pusher) >= pusher_radius + OBSTACLE_CLEARANCE
                and all(separation(candidate, polygon) >= OBSTACLE_CLEARANCE for polygon in ends)
                and all(separation(candidate, other) >= PASSAGE for other in obstacles)
                and any(separation(candidate, polygon) <= near for pose in path for polygon in pose)
            ):
                obstacles.append(candidate)
                break
        else:
            return None
    return obstacles
