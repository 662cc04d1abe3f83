"""ObjectPushing-v0: push a rigid object to a goal pose with a circular pusher (pymunk, top-down)."""

from __future__ import annotations

import math

import gymnasium
import numpy as np
import pymunk
from gymnasium import spaces

from envs import table
from envs.errors import EnvOptionsError, SimulationError
from envs.registration import PUSHING_ID
from envs.table import CONTROL_PERIOD, MAX_DISPLACEMENT, PUSHER_LIMIT, PUSHER_RADIUS, WALL

ENV_ID = PUSHING_ID  # registered in envs.registration

# Geometry, in cm; the table, the pusher and the physics are those of envs.table. The walls are far enough
# out that the pusher can never press the object against one: PUSHER_LIMIT + PUSHER_RADIUS + object diameter
# < WALL (checked in __init__).
KEYPOINT_LIMIT = 30.0  # object keypoints stay in [-KEYPOINT_LIMIT, KEYPOINT_LIMIT]^2 (wall + contact slack)
START_HALF_WIDTH = 6.0  # initial object centre is uniform in [-6, 6]^2
GOAL_HALF_WIDTH = 10.0  # sampled goal centres are clipped to [-10, 10]^2
GOAL_SHIFT = (2.0, 8.0)  # sampled goal: start pose moved by a distance in this range ...
GOAL_TURN = math.pi / 4  # ... and turned by at most this angle
SUCCESS_DISTANCE = 2.0  # a mean keypoint distance below this counts as reaching the goal
RIGID_TOLERANCE = 0.01  # keypoints given to reset may deviate this much from a rigid copy of the object

# Object shapes: convex polygons and keypoints in a body frame; centred on the area centroid below.
_T_BAR = [(-4.5, 6.5), (4.5, 6.5), (4.5, 9.0), (-4.5, 9.0)]
_T_STEM = [(-1.25, 0.0), (1.25, 0.0), (1.25, 6.5), (-1.25, 6.5)]
SHAPES = {
    "box": {"polygons": [[(-4.0, -4.0), (4.0, -4.0), (4.0, 4.0), (-4.0, 4.0)]],
            "keypoints": [(-4.0, -4.0), (4.0, -4.0), (4.0, 4.0), (-4.0, 4.0)]},
    "t": {"polygons": [_T_BAR, _T_STEM],
          "keypoints": [(-1.25, 0.0), (1.25, 0.0), (4.5, 9.0), (-4.5, 9.0)]},
}

OBJECT_COLOR, KEYPOINT_COLOR, GOAL_COLOR = (70, 110, 200), (20, 30, 80), (40, 160, 60)


def _area_centroid(polygons: list[np.ndarray]) -> np.ndarray:
    """Centroid of a union of non-overlapping polygons (shoelace formula)."""
    areas, centroids = [], []
    for polygon in polygons:
        x, y = polygon.T
        x_next, y_next = np.roll(x, -1), np.roll(y, -1)
        cross = x * y_next - x_next * y
        area = cross.sum() / 2
        areas.append(area)
        centroids.append([((x + x_next) * cross).sum() / (6 * area), ((y + y_next) * cross).sum() / (6 * area)])
    return np.average(centroids, axis=0, weights=areas)


def _rotation(angle: float) -> np.ndarray:
    cos, sin = math.cos(angle), math.sin(angle)
    return np.array([[cos, -sin], [sin, cos]])


class ObjectPushingEnv(gymnasium.Env):
    """Push a box (or a T) across a table to a goal pose with a kinematic circular pusher.

    Top-down pymunk simulation. The object rests on a table with friction and moves only when the
    pusher touches it; off-centre pushes turn it; it stops within one substep once contact ends
    (quasi-static pushing).

    Units: positions in cm, one control step is 0.1 s.

    Observation (float32, 10 entries, linear in positions, no angles)::

        [pusher_x, pusher_y, keypoint0_x, keypoint0_y, ..., keypoint3_x, keypoint3_y]

    Keypoints are points fixed on the object, counter-clockwise: the box's 4 corners (8 cm sides);
    for the T (9 x 2.5 cm bar on a 2.5 x 6.5 cm stem) the stem's two bottom corners and the two ends
    of the bar's top edge. The pusher centre stays in [-17, 17]^2 (it is clamped there); walls at
    +-29.5 keep the object on the table, so keypoints stay in [-30, 30]^2. `workspace_low` and
    `workspace_high` hold these bounds and are the observation space. The walls are far enough out
    that the pusher can never squeeze the object against one.

    Action: pusher displacement (dx, dy) in cm for one step, each entry in [-2.5, 2.5] (larger values
    are clipped). The pusher has radius 1 cm.

    Goal: object keypoints (8 entries, in observation order), `reset(options={"goal": keypoints})`,
    e.g. `env.unwrapped.keypoints_at(x, y, angle)`. Without one, the goal is sampled from the seed:
    the start pose moved 2 to 8 cm in a random direction (centre clipped to [-10, 10]^2) and turned by
    up to 45 degrees. `env.unwrapped.goal` holds it; `goal_indices` are the observation entries
    compared with it.

    Start: object centre uniform in [-6, 6]^2 with a uniform angle, pusher uniform in its box at least
    0.5 cm from the object; or a full observation vector in `reset(options={"state": observation})`.

    Reward: minus the cost, the mean distance (cm) of the object keypoints to their goal positions;
    `info["cost"]` carries it. Episodes never terminate; the registered env truncates after 60 steps.
    `success_threshold` (2 cm): a cost below it counts as reaching the goal.

    `state_layout`, `units`, `goal_indices`, the boxes and `dataset_metadata(seed)` describe the env
    for data files and planners.
    """

    metadata = {"render_modes": table.RENDER_MODES, "render_fps": round(1 / CONTROL_PERIOD)}

    def __init__(self, shape: str = "box", render_mode: str | None = None):
        if shape not in SHAPES:
            raise EnvOptionsError(f"unknown object shape {shape!r}; choose one of {', '.join(SHAPES)}")
        table.check_render_mode(render_mode)
        self.env_kwargs = {"shape": shape}
        self.render_mode = render_mode

        polygons = [np.array(polygon) for polygon in SHAPES[shape]["polygons"]]
        centroid = _area_centroid(polygons)
        self.object_polygons = [polygon - centroid for polygon in polygons]
        self.local_keypoints = np.array(SHAPES[shape]["keypoints"]) - centroid
        vertices = np.concatenate(self.object_polygons)
        diameter = np.linalg.norm(vertices[:, None] - vertices[None], axis=-1).max()
        assert PUSHER_LIMIT + PUSHER_RADIUS + diameter < WALL, "the pusher could squeeze the object against a wall"

        n_keypoints = len(self.local_keypoints)
        self.state_layout = ["pusher_x", "pusher_y"] + [
            f"keypoint{i}_{axis}" for i in range(n_keypoints) for axis in ("x", "y")
        ]
        self.goal_indices = list(range(2, 2 + 2 * n_keypoints))
        self.units = {"position": "cm", "action": "cm of pusher displacement per step", "time": "0.1 s per step"}
        limits = np.array([PUSHER_LIMIT] * 2 + [KEYPOINT_LIMIT] * 2 * n_keypoints, dtype=np.float32)
        self.workspace_low, self.workspace_high = -limits, limits
        self.observation_space = spaces.Box(self.workspace_low, self.workspace_high, dtype=np.float32)
        self.action_space = spaces.Box(-MAX_DISPLACEMENT, MAX_DISPLACEMENT, shape=(2,), dtype=np.float32)

        self._space: pymunk.Space | None = None
        self._object: pymunk.Body | None = None
        self._pusher: pymunk.Body | None = None
        self.goal = np.zeros(2 * n_keypoints)
        self.success_threshold = SUCCESS_DISTANCE
        self._goal_pose = (0.0, 0.0, 0.0)

    # --- public helpers -------------------------------------------------------------------------

    def keypoints_at(self, x: float, y: float, angle: float) -> np.ndarray:
        """Keypoints (flat, observation order) of the object with its centroid at (x, y) turned by angle."""
        return (self.local_keypoints @ _rotation(angle).T + (x, y)).ravel()

    def dataset_metadata(self, seed: int | None = None) -> dict:
        """The metadata a transition file of this env carries (see envs.dataset.REQUIRED_METADATA)."""
        return table.dataset_metadata(self, ENV_ID, seed)

    # --- gymnasium API ---------------------------------------------------------------------------

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        options = options or {}
        unknown = sorted(set(options) - {"state", "goal"})
        if unknown:
            raise EnvOptionsError(f"unknown reset option(s) {', '.join(unknown)}; expected 'state' and/or 'goal'")

        if "state" in options:
            state = table.as_vector(options["state"], "state", len(self.state_layout))
            pusher, pose = state[:2], self._fit_pose(state[self.goal_indices], "state")
            if np.any(np.abs(pusher) > PUSHER_LIMIT):
                raise EnvOptionsError(f"state: pusher {pusher.tolist()} is outside [-{PUSHER_LIMIT}, {PUSHER_LIMIT}]^2")
            vertices = np.concatenate(self.object_polygons) @ _rotation(pose[2]).T + pose[:2]
            if np.any(np.abs(vertices) > WALL):
                raise EnvOptionsError(f"state: the object reaches beyond the walls at +-{WALL}")
            space, body, shapes = self._build_space(pose)
            if table.distance(shapes, pusher) < PUSHER_RADIUS:
                raise EnvOptionsError("state: the pusher overlaps the object")
        else:
            centre = self.np_random.uniform(-START_HALF_WIDTH, START_HALF_WIDTH, 2)
            pose = (float(centre[0]), float(centre[1]), self.np_random.uniform(-math.pi, math.pi))
            space, body, shapes = self._build_space(pose)
            pusher = table.free_pusher_position(self.np_random, shapes)

        if "goal" in options:
            goal = table.as_vector(options["goal"], "goal", len(self.goal_indices))
            goal_pose = self._fit_pose(goal, "goal")
        else:
            goal_pose = self._sample_goal_pose(pose)
            goal = self.keypoints_at(*goal_pose)

        # all options were valid: the new episode replaces the old one
        self._space, self._object, self._object_shapes = space, body, shapes
        self._pusher = table.add_pusher(space, pusher)
        self.goal, self._goal_pose = goal, goal_pose
        observation = self._observation()
        return observation, {"cost": self._cost(observation)}

    def step(self, action):
        if self._space is None:
            raise gymnasium.error.ResetNeeded("call reset() before step()")
        table.move_pusher(self._space, self._pusher, action)

        observation = self._observation()
        cost = self._cost(observation)
        return observation, -cost, False, False, {"cost": cost}

    def render(self):
        return table.render(self.render_mode, self._draw)

    # --- internals ------------------------------------------------------------------------------

    def _draw(self, draw) -> None:
        goal_rotation = _rotation(self._goal_pose[2])
        for polygon in self.object_polygons:
            draw.polygon(table.pixels(polygon @ goal_rotation.T + self._goal_pose[:2]), outline=GOAL_COLOR, width=2)
        if self._space is not None:
            position, rotation = np.array(self._object.position), _rotation(self._object.angle)
            for polygon in self.object_polygons:
                draw.polygon(table.pixels(polygon @ rotation.T + position), fill=OBJECT_COLOR)
            for x, y in table.pixels(self.keypoints_at(*position, self._object.angle).reshape(-1, 2)):
                draw.ellipse([x - 2, y - 2, x + 2, y + 2], fill=KEYPOINT_COLOR)
            table.draw_disc(draw, self._pusher.position, PUSHER_RADIUS, fill=table.PUSHER_COLOR)

    def _build_space(self, pose) -> tuple[pymunk.Space, pymunk.Body, list[pymunk.Poly]]:
        """A fresh space holding the walls and the object at pose = (x, y, angle)."""
        space = table.new_space()
        body = pymunk.Body()
        body.position, body.angle = (pose[0], pose[1]), pose[2]
        shapes = [pymunk.Poly(body, polygon.tolist()) for polygon in self.object_polygons]
        support_points = np.concatenate([table.support_grid(polygon.min(axis=0), polygon.max(axis=0))
                                         for polygon in self.object_polygons])  # each polygon is a rectangle
        table.add_object(space, body, shapes, support_points)
        return space, body, shapes

    def _sample_goal_pose(self, start_pose) -> tuple[float, float, float]:
        direction = self.np_random.uniform(-math.pi, math.pi)
        distance = self.np_random.uniform(*GOAL_SHIFT)
        turn = self.np_random.uniform(-GOAL_TURN, GOAL_TURN)
        centre = np.clip(np.array(start_pose[:2]) + distance * np.array([math.cos(direction), math.sin(direction)]),
                         -GOAL_HALF_WIDTH, GOAL_HALF_WIDTH)
        return float(centre[0]), float(centre[1]), float(start_pose[2] + turn)

    def _fit_pose(self, keypoints: np.ndarray, name: str) -> tuple[float, float, float]:
        """The object pose whose keypoints best match the given ones (2D Procrustes); they must match closely."""
        world = keypoints.reshape(-1, 2)
        if np.any(np.abs(world) > KEYPOINT_LIMIT):
            raise EnvOptionsError(f"{name}: object keypoints lie outside [-{KEYPOINT_LIMIT}, {KEYPOINT_LIMIT}]^2")
        local_centred = self.local_keypoints - self.local_keypoints.mean(axis=0)
        world_centred = world - world.mean(axis=0)
        cross = local_centred[:, 0] * world_centred[:, 1] - local_centred[:, 1] * world_centred[:, 0]
        angle = math.atan2(cross.sum(), np.sum(local_centred * world_centred))
        position = world.mean(axis=0) - _rotation(angle) @ self.local_keypoints.mean(axis=0)
        error = np.abs(self.keypoints_at(*position, angle) - keypoints).max()
        if error > RIGID_TOLERANCE:
            raise EnvOptionsError(f"{name}: the keypoints are not those of the object at any pose "
                                  f"(off by {error:.3g} cm)")
        return float(position[0]), float(position[1]), angle

    def _observation(self) -> np.ndarray:
        """Pusher position and object keypoints; raises SimulationError if the simulator diverged."""
        keypoints = self.keypoints_at(*self._object.position, self._object.angle)
        observation = np.concatenate([np.array(self._pusher.position), keypoints])
        if not np.all(np.isfinite(observation)) or np.any(np.abs(keypoints) > KEYPOINT_LIMIT):
            raise SimulationError(f"the simulation diverged: object keypoints {np.round(keypoints, 2).tolist()}")
        return observation.astype(np.float32)

    def _cost(self, observation: np.ndarray) -> float:
        """Mean distance (cm) of the object keypoints to the goal keypoints."""
        offsets = (observation[self.goal_indices].astype(np.float64) - self.goal).reshape(-1, 2)
        return float(np.linalg.norm(offsets, axis=1).mean())
