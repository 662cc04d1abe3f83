"""Exploration policies for data collection: which actions to take so that the data shows contact.

A policy is made per episode from the env and a seeded generator, then called with each observation:
`policy = PushingExploration(env, rng); action = policy(observation)`. `exploration_policy(env_id)` picks
the one for a registered env (uniform random actions for any other).
"""

from __future__ import annotations

import math

import gymnasium
import numpy as np

from envs.rope import ROPE_RADIUS
from envs.sorting import OBJECT_RADIUS
from envs.table import PUSHER_LIMIT, PUSHER_RADIUS


class RandomExploration:
    """Uniform random actions in the action box: the fallback for envs without a tailored policy.

    Args:
        env: the env to explore (its action space).
        rng: the generator every action is drawn from (seeded per episode by collect).

    Shapes:
        observation: (state_dim,), ignored; action: the action space's shape, float32.
    """

    def __init__(self, env: gymnasium.Env, rng: np.random.Generator):
        self.low, self.high = env.action_space.low, env.action_space.high
        self.rng = rng

    def __call__(self, observation: np.ndarray) -> np.ndarray:
        return self.rng.uniform(self.low, self.high).astype(np.float32)


class PushingExploration:
    """Pushes aimed at and around the object, from every side and off-centre, with some free moves.

    Purely random pusher moves rarely touch the object. Instead each primitive is planned from the
    current observation (the keypoints outline the object) and then executed open loop:

    - push (probability PUSH_PROBABILITY): pick a target point in the middle of the table and a push
      heading towards it, mostly turned at most MAX_TURN from the side the pusher is already on (cheap
      to reach, and the object curves back towards the middle instead of drifting off); pick a contact
      line anywhere across the object's width along that heading; walk around the object to just before
      it on that line, keeping a random clearance from its outline (sometimes grazing it, sometimes
      just missing it); push along the heading, with noise, about as far as the target;
    - free move: 1 to 3 uniformly random actions.

    Args:
        env: a table env (`state_layout` with `pusher_x`, `pusher_y`; `goal_indices` the object's keypoints,
            in cm); the largest step is the action box's smallest upper bound (2.5 cm).
        rng: the generator every choice is drawn from (seeded per episode by collect).

    Shapes:
        observation: (state_dim,), cm; action: (2,) float32, pusher displacement in cm, inside the action box.
    """

    PUSH_PROBABILITY = 0.85
    TARGET_HALF_WIDTH = 6.0  # cm: targets are uniform in [-6, 6]^2
    ANY_SIDE_PROBABILITY = 0.3  # otherwise the heading turns at most MAX_TURN from the pusher's side
    MAX_TURN = math.pi / 2
    OFFSET_SPREAD = 0.8  # fraction of the object's half-width the contact line may be off-centre
    ROUTE_CLEARANCE = (0.6, 1.4)  # cm between the pusher centre and the object outline on the way
    APPROACH_GAP = 0.5  # cm left between the pusher and the object before a push
    PUSH_STEPS = (2, 8)  # shortest and longest push
    STEER_NOISE = 0.3  # rad of heading noise per push step

    def __init__(self, env: gymnasium.Env, rng: np.random.Generator):
        layout = env.unwrapped.state_layout
        self.pusher_indices = [layout.index("pusher_x"), layout.index("pusher_y")]
        self.goal_indices = env.unwrapped.goal_indices
        self.max_step = float(env.action_space.high.min())
        self.rng = rng
        self.queue: list[np.ndarray] = []

    def __call__(self, observation: np.ndarray) -> np.ndarray:
        if not self.queue:
            pusher = observation[self.pusher_indices].astype(np.float64)
            if self.rng.random() < self.PUSH_PROBABILITY:
                self.queue = self._push(pusher, self._outline(observation[self.goal_indices].astype(np.float64)))
            else:
                self.queue = list(self.rng.uniform(-self.max_step, self.max_step, (self.rng.integers(1, 4), 2)))
        return np.clip(self.queue.pop(0), -self.max_step, self.max_step).astype(np.float32)

    def _outline(self, goal_entries: np.ndarray) -> np.ndarray:
        """Corners of the convex outline of the object to push: the keypoints."""
        return goal_entries.reshape(-1, 2)

    def _push(self, pusher: np.ndarray, keypoints: np.ndarray) -> list[np.ndarray]:
        centre = keypoints.mean(axis=0)
        target = self.rng.uniform(-self.TARGET_HALF_WIDTH, self.TARGET_HALF_WIDTH, 2)
        heading = _angle(target - centre)
        if self.rng.random() >= self.ANY_SIDE_PROBABILITY:
            pusher_side = _angle(centre - pusher)
            heading = pusher_side + np.clip(_wrap(heading - pusher_side), -self.MAX_TURN, self.MAX_TURN)
        direction, across_direction = _unit(heading), _unit(heading + math.pi / 2)
        along, across = (keypoints - centre) @ direction, (keypoints - centre) @ across_direction
        offset = (across.max() + across.min()) / 2 + self.rng.uniform(-1, 1) * self.OFFSET_SPREAD * np.ptp(across) / 2
        start = centre + offset * across_direction + (along.min() - PUSHER_RADIUS - self.APPROACH_GAP) * direction
        start = np.clip(start, -PUSHER_LIMIT, PUSHER_LIMIT)
        route = _route_around(pusher, start, keypoints, self.rng.uniform(*self.ROUTE_CLEARANCE))
        approach = self._walk(np.array([pusher] + route))

        mean_length = 0.75 * self.max_step
        steps = int(np.clip(round(np.linalg.norm(target - centre) / mean_length) + 1, *self.PUSH_STEPS))
        headings = heading + self.rng.uniform(-self.STEER_NOISE, self.STEER_NOISE, steps)
        lengths = self.rng.uniform(0.5, 1.0, steps) * self.max_step
        return approach + list(lengths[:, None] * np.stack([np.cos(headings), np.sin(headings)], axis=1))

    def _walk(self, path: np.ndarray) -> list[np.ndarray]:
        """Pusher displacements along a polyline, as few as the action box allows (path length in the max-norm)."""
        lengths = np.concatenate([[0.0], np.cumsum(np.abs(np.diff(path, axis=0)).max(axis=1))])
        count = math.ceil(lengths[-1] / self.max_step - 1e-9)
        if count == 0:
            return []
        stops = np.linspace(0.0, lengths[-1], count + 1)
        points = np.stack([np.interp(stops, lengths, path[:, axis]) for axis in range(2)], axis=1)
        return list(np.diff(points, axis=0))


def octagon(radius: float) -> np.ndarray:
    """Corners (8, 2) of the regular octagon around a disc of `radius` at the origin."""
    angles = np.arange(8) * math.pi / 4 + math.pi / 8
    return radius / math.cos(math.pi / 8) * np.stack([np.cos(angles), np.sin(angles)], axis=1)


class SortingExploration(PushingExploration):
    """The pushing primitives of PushingExploration, each aimed at one disc chosen at random, with targets
    spread over the class targets; discs on the way get pushed too.

    Each disc is outlined by the regular octagon around it. A disc slides off a pusher that turns or hits it
    off-centre, so pushes are straighter and more central than for a box.
    """

    TARGET_HALF_WIDTH = 12.0  # cm: targets are uniform in [-12, 12]^2, around the class targets at 10 cm
    OFFSET_SPREAD = 0.5
    STEER_NOISE = 0.15
    OCTAGON = octagon(OBJECT_RADIUS)

    def _outline(self, goal_entries: np.ndarray) -> np.ndarray:
        positions = goal_entries.reshape(-1, 2)
        return positions[self.rng.integers(len(positions))] + self.OCTAGON


class RopeExploration(SortingExploration):
    """The pushing primitives of PushingExploration, each aimed at one rope particle chosen at random (outlined
    by the octagon around the rope's cross-section there), towards targets in the middle of the table: the
    rope bends around the pusher, drags its neighbours along and slides when pushed along its length.
    """

    TARGET_HALF_WIDTH = 8.0  # cm: targets are uniform in [-8, 8]^2, where sampled ropes and goals lie
    OCTAGON = octagon(ROPE_RADIUS)


def _angle(vector: np.ndarray) -> float:
    return math.atan2(vector[1], vector[0])


def _wrap(angle: float) -> float:
    """The same angle in [-pi, pi)."""
    return (angle + math.pi) % (2 * math.pi) - math.pi


def _unit(angle: float) -> np.ndarray:
    return np.array([math.cos(angle), math.sin(angle)])


def _route_around(start: np.ndarray, end: np.ndarray, keypoints: np.ndarray, clearance: float) -> list[np.ndarray]:
    """Waypoints from start to end that keep about `clearance` from the object's outline (the convex
    polygon through its keypoints): straight if possible, else around the shorter way via the corners
    of the outline grown by `clearance`."""
    centre = keypoints.mean(axis=0)
    outline = keypoints[np.argsort(np.arctan2(*(keypoints - centre).T[::-1]))]  # counter-clockwise
    edges = np.roll(outline, -1, axis=0) - outline
    normals = np.stack([edges[:, 1], -edges[:, 0]], axis=1) / np.linalg.norm(edges, axis=1, keepdims=True)
    samples = start + np.linspace(0.0, 1.0, 32)[:, None] * (end - start)
    # largest signed distance to the edge lines: a lower bound of the distance to the outline outside it
    distances = ((samples[:, None] - outline[None]) * normals[None]).sum(axis=-1).max(axis=1)
    if distances.min() >= min(clearance, distances[0]):  # a pusher already close may slide along the object
        return [end]
    previous = np.roll(normals, 1, axis=0)  # corner i joins edges i - 1 and i; grown, it is `clearance` from both
    corners = outline + clearance * (previous + normals) / (1 + (previous * normals).sum(axis=1, keepdims=True))
    first = _angle(start - centre)
    turn = _wrap(_angle(end - centre) - first)
    progress = np.array([_wrap(_angle(corner - centre) - first) * np.sign(turn) for corner in corners])
    passed = [i for i in np.argsort(progress) if 0 < progress[i] < abs(turn)]
    return [np.clip(corners[i], -PUSHER_LIMIT, PUSHER_LIMIT) for i in passed] + [end]


EXPLORATION = {
    "sparsedyn/ObjectPushing-v0": PushingExploration,
    "sparsedyn/ObjectSorting-v0": SortingExploration,
    "sparsedyn/RopeShaping-v0": RopeExploration,
}


def exploration_policy(env_id: str) -> type:
    """The exploration policy class for a registered env id (RandomExploration for other envs)."""
    return EXPLORATION.get(env_id, RandomExploration)
