"""ObjectPushing-v0: push a rigid object to a goal pose with a circular pusher (pymunk, top-down)."""

from __future__ import annotations

import math

import numpy as np
import pymunk

from envs import table
from envs.errors import EnvOptionsError
from envs.obstacles import (
    MAX_OBSTACLES,
    OBSTACLE_RADIUS,
    OBSTACLE_SIDES,
    RADIUS_RANGE,
    THREE_RADIUS,
    counter_clockwise,
    is_convex_polygon,
    place_obstacles,
    segment_distance,
    separation,
)
from envs.registration import PUSHING_ID
from envs.table import PUSHER_LIMIT, PUSHER_RADIUS, WALL

# Geometry, in cm; the table, the pusher and the physics are those of envs.table. The walls are far enough
# out that the pusher can never press the object against one: PUSHER_LIMIT + PUSHER_RADIUS + object diameter
# < WALL (checked in __init__).
KEYPOINT_LIMIT = 30.0  # object keypoints stay in [-KEYPOINT_LIMIT, KEYPOINT_LIMIT]^2 (wall + contact slack)
START_HALF_WIDTH = 6.0  # initial object centre is uniform in [-6, 6]^2
GOAL_HALF_WIDTH = 10.0  # sampled goal centres are clipped to [-10, 10]^2
GOAL_SHIFT = (2.0, 8.0)  # sampled goal: start pose moved by a distance in this range ...
GOAL_TURN = math.pi / 4  # ... and turned by at most this angle
OBSTACLE_GOAL_SHIFT = (14.0, 18.0)  # with obstacles, the sampled goal is moved this far (room for them) ...
OBSTACLE_GOAL_LIMIT = 11.0  # ... with its centre in [-11, 11]^2 (the pusher can reach around it)
GOAL_TRIES = 100  # goals drawn (with obstacles) before the placement gives up
FAR_GOAL_TRIES = 20000  # draws of a goal 14 to 18 cm away (from a centred start about 3% land in the box)
SUCCESS_DISTANCE = 2.0  # a mean keypoint distance below this counts as reaching the goal
RIGID_TOLERANCE = 0.01  # keypoints given to reset may deviate this much from a rigid copy of the object

# Object shapes: convex polygons and keypoints in a body frame; centred on the area centroid below.
_T_BAR = [(-4.5, 6.5), (4.5, 6.5), (4.5, 9.0), (-4.5, 9.0)]
_T_STEM = [(-1.25, 0.0), (1.25, 0.0), (1.25, 6.5), (-1.25, 6.5)]
SHAPES = {
    "box": {
        "polygons": [[(-4.0, -4.0), (4.0, -4.0), (4.0, 4.0), (-4.0, 4.0)]],
        "keypoints": [(-4.0, -4.0), (4.0, -4.0), (4.0, 4.0), (-4.0, 4.0)],
    },
    "t": {"polygons": [_T_BAR, _T_STEM], "keypoints": [(-1.25, 0.0), (1.25, 0.0), (4.5, 9.0), (-4.5, 9.0)]},
}

OBJECT_COLOR, KEYPOINT_COLOR, GOAL_COLOR, OBSTACLE_COLOR = (70, 110, 200), (20, 30, 80), (40, 160, 60), (60, 55, 50)
OBJECT_TYPE, OBSTACLE_TYPE = 1, 2  # pymunk collision types: a handler notes the object touching an obstacle


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


class ObjectPushingEnv(table.TableEnv):
    """Push a box (or a T) across a table to a goal pose with a kinematic circular pusher.

    ## Description
    Top-down pymunk simulation on the table of `envs.table.TableEnv`. The object rests on a table with
    friction and moves only when the pusher touches it; off-centre pushes turn it; it stops within one
    substep once contact ends (quasi-static pushing). Units: positions in cm, one control step is 0.1 s.

    ## Action Space
    Pusher displacement (dx, dy) in cm for one step, each entry in [-2.5, 2.5] (larger values are clipped).
    The pusher has radius 1 cm.

    ## Observation Space
    float32, 10 entries, linear in positions, no angles::

        [pusher_x, pusher_y, keypoint0_x, keypoint0_y, ..., keypoint3_x, keypoint3_y]

    =======  =============================  ==========  ====
    index    meaning                        range       unit
    =======  =============================  ==========  ====
    0, 1     pusher centre                  [-17, 17]   cm
    2 .. 9   object keypoints 0 .. 3, x y   [-30, 30]   cm
    =======  =============================  ==========  ====

    Keypoints are points fixed on the object, counter-clockwise: the box's 4 corners (8 cm sides); for the
    T (9 x 2.5 cm bar on a 2.5 x 6.5 cm stem) the stem's two bottom corners and the two ends of the bar's
    top edge. The pusher centre is clamped to its box; walls at +-29.5 keep the object on the table, so
    keypoints stay in [-30, 30]^2. `workspace_low` and `workspace_high` hold these bounds and are the
    observation space. The walls are far enough out that the pusher can never squeeze the object against
    one.

    ## Goal
    Object keypoints (8 entries, in observation order), `reset(options={"goal": keypoints})`, e.g.
    `env.unwrapped.keypoints_at(x, y, angle)`. Without one, the goal is sampled from the seed: the start
    pose moved 2 to 8 cm in a random direction (centre clipped to [-10, 10]^2) and turned by up to 45
    degrees; with obstacles, moved 14 to 18 cm (centre in [-11, 11]^2, drawn again until the obstacles
    fit). `env.unwrapped.goal` holds it; `goal_indices` are the observation entries compared with it.

    ## Obstacles
    With `obstacles=k` (1 to 3), each episode has k fixed convex obstacles (envs.obstacles): regular
    polygons of 3 to 6 sides with a 2 cm circumradius (`obstacle_radius=r` for 1 to 4 cm, 3 obstacles at most
    2.5 cm), static pymunk bodies, placed from the seed so that the object pushed straight from its start pose
    to its goal pose runs into the first; the others come within 5 cm of that straight push. All stay 2 cm
    clear of the object at its start and goal poses and of the pusher's start, 12 cm apart (the object passes
    between two), inside the pusher's box. The object collides with them; the pusher is kinematic and passes
    through them, unstopped.
    `reset(options={"obstacles": polygons})` gives an episode's obstacles instead (0 to 3 convex polygons,
    corners (V, 2) in cm), with or without `obstacles=k`. `env.unwrapped.obstacles`, `info["obstacles"]`
    and `dataset_metadata()["obstacles"]` hold them (counter-clockwise corners, cm); `render` draws them.

    Every `info` says whether the object (`info["object_collision"]`: pymunk reported a contact during
    the step) or the pusher (`info["pusher_collision"]`: its disc swept over the step came within its
    radius) touched an obstacle; after `reset`, whether the start overlaps one.

    ## Rewards
    Minus the cost, the mean distance (cm) of the object keypoints to their goal positions; `info["cost"]`
    carries it. `success_threshold` (2 cm): a cost below it counts as reaching the goal.

    ## Starting State
    Object centre uniform in [-6, 6]^2 with a uniform angle, pusher uniform in its box at least 0.5 cm from
    the object; or a full observation vector in `reset(options={"state": observation})`, which may
    overlap an obstacle (a push can press the object into one; `info` reports it).

    ## Episode End
    Episodes never terminate; the registered env truncates after 60 steps.

    ## Attributes
    `state_layout`, `units`, `goal_indices`, the boxes and `dataset_metadata(seed)` describe the env for
    data files and planners.

    Args:
        shape: the object, "box" or "t".
        obstacles: obstacles per episode, 0 (none) to 3.
        obstacle_radius: their circumradius, cm, 1 to 4 (default 2); with 3 obstacles at most 2.5.
        render_mode: None or "rgb_array".

    Raises:
        EnvOptionsError: an unknown shape, obstacle count, obstacle radius or render_mode (here), or reset options
            the env cannot use: unknown ones, a state or goal whose keypoints are not those of the object at any pose
            (1e-2 cm tolerance) or lie outside [-30, 30]^2, a pusher outside its box or overlapping the object
            by more than contact leaves (`contact_overlap`, 0.39 cm), an object reaching beyond the walls,
            obstacles that are not up to 3 convex polygons inside the walls, or a given start and goal too
            close for the obstacles to fit between them.
    """

    env_id = PUSHING_ID
    reset_options = ("state", "goal", "obstacles")
    object_entries = "keypoints"

    def __init__(
        self,
        shape: str = "box",
        obstacles: int = 0,
        obstacle_radius: float = OBSTACLE_RADIUS,
        render_mode: str | None = None,
    ):
        if shape not in SHAPES:
            raise EnvOptionsError(f"unknown object shape {shape!r}; choose one of {', '.join(SHAPES)}")
        if not isinstance(obstacles, int) or isinstance(obstacles, bool) or not 0 <= obstacles <= MAX_OBSTACLES:
            raise EnvOptionsError(f"obstacles must be a whole number from 0 to {MAX_OBSTACLES}, got {obstacles!r}")
        low, high = RADIUS_RANGE
        if isinstance(obstacle_radius, bool) or not isinstance(obstacle_radius, (int, float)):
            raise EnvOptionsError(f"obstacle_radius must be a number of cm, got {obstacle_radius!r}")
        if not low <= obstacle_radius <= high:
            raise EnvOptionsError(f"obstacle_radius must be from {low:g} to {high:g} cm, got {obstacle_radius!r}")
        if obstacles == MAX_OBSTACLES and obstacle_radius > THREE_RADIUS:
            raise EnvOptionsError(
                f"obstacle_radius must be at most {THREE_RADIUS:g} cm with {MAX_OBSTACLES} obstacles (larger ones "
                f"often find no room between start and goal), got {obstacle_radius!r}"
            )
        polygons = [np.array(polygon) for polygon in SHAPES[shape]["polygons"]]
        centroid = _area_centroid(polygons)
        self.object_polygons = [polygon - centroid for polygon in polygons]
        self.local_keypoints = np.array(SHAPES[shape]["keypoints"]) - centroid
        vertices = np.concatenate(self.object_polygons)
        diameter = np.linalg.norm(vertices[:, None] - vertices[None], axis=-1).max()
        assert PUSHER_LIMIT + PUSHER_RADIUS + diameter < WALL, "the pusher could squeeze the object against a wall"

        n_keypoints = len(self.local_keypoints)
        layout = [f"keypoint{i}_{axis}" for i in range(n_keypoints) for axis in ("x", "y")]
        env_kwargs = {"shape": shape} | ({"obstacles": obstacles} if obstacles else {})
        if obstacle_radius != OBSTACLE_RADIUS:
            env_kwargs["obstacle_radius"] = float(obstacle_radius)
        super().__init__(env_kwargs, layout, KEYPOINT_LIMIT, SUCCESS_DISTANCE, render_mode)
        self.obstacle_count = obstacles
        self.obstacle_radius = float(obstacle_radius)
        self._object: pymunk.Body | None = None
        self.goal = np.zeros(2 * n_keypoints)
        self._goal_pose = (0.0, 0.0, 0.0)
        self.obstacles: list[np.ndarray] = []  # the running episode's, counter-clockwise corners (V, 2) in cm
        self._collisions = {"object_collision": False, "pusher_collision": False}
        self._pusher_before = np.zeros(2)

    def keypoints_at(self, x: float, y: float, angle: float) -> np.ndarray:
        """Keypoints of the object with its centroid at (x, y) turned by angle.

        Args:
            x, y: centroid position in cm.
            angle: rotation in rad, counter-clockwise.

        Shapes:
            (8,): flat, in observation order (keypoint0_x, keypoint0_y, ...), cm.
        """
        return (self.local_keypoints @ _rotation(angle).T + (x, y)).ravel()

    def object_polygons_at(self, x: float, y: float, angle: float) -> list[np.ndarray]:
        """The object's convex polygons (corners (V, 2), cm) with its centroid at (x, y) turned by angle (rad)."""
        return [polygon @ _rotation(angle).T + (x, y) for polygon in self.object_polygons]

    def dataset_metadata(self, seed: int | None = None) -> dict:
        """The metadata of envs.table.TableEnv; with `obstacles=k`, also "obstacles": what a planner needs to
        keep out of them (the count, their size, the pusher's radius and state entries, the state entries of
        the keypoints in order around the object) and the running episode's polygons ("episode", None before
        the first reset).

        Args:
            seed: the seed the data was collected with.
        """
        metadata = super().dataset_metadata(seed)
        if self.obstacle_count:
            metadata["obstacles"] = {
                "count": self.obstacle_count,
                "sides": list(OBSTACLE_SIDES),
                "circumradius": self.obstacle_radius,
                "pusher_radius": PUSHER_RADIUS,
                "pusher": [0, 1],
                "outline": [[2 + 2 * i, 3 + 2 * i] for i in range(len(self.local_keypoints))],
                "episode": None if self._space is None else [obstacle.tolist() for obstacle in self.obstacles],
            }
        return metadata

    def step(self, action):
        """Step as envs.table.TableEnv.step does, noting whether the object or the pusher touches an obstacle."""
        self._pusher_before = np.array(self._pusher.position) if self._pusher is not None else np.zeros(2)
        self._collisions["object_collision"] = False  # the collision handler sets it during the step
        return super().step(action)

    # --- hooks of TableEnv ----------------------------------------------------------------------

    def _sample_placement(self) -> tuple[float, float, float]:
        centre = self.np_random.uniform(-START_HALF_WIDTH, START_HALF_WIDTH, 2)
        return float(centre[0]), float(centre[1]), self.np_random.uniform(-math.pi, math.pi)

    def _placement_from_state(self, entries: np.ndarray) -> tuple[float, float, float]:
        return self._fit_pose(entries, "state")

    def _build_space(self, pose) -> tuple[pymunk.Space, pymunk.Body, list[pymunk.Poly]]:
        """A fresh space holding the walls and the object at pose = (x, y, angle)."""
        space = table.new_space()
        body = pymunk.Body()
        body.position, body.angle = (pose[0], pose[1]), pose[2]
        shapes = [pymunk.Poly(body, polygon.tolist()) for polygon in self.object_polygons]
        support_points = np.concatenate(
            [table.support_grid(polygon.min(axis=0), polygon.max(axis=0)) for polygon in self.object_polygons]
        )  # each polygon is a rectangle
        table.add_object(space, body, shapes, support_points)
        return space, body, shapes

    def _check_state(self, pusher: np.ndarray, pose, shapes: list[pymunk.Poly]) -> None:
        vertices = np.concatenate(self.object_polygons) @ _rotation(pose[2]).T + pose[:2]
        if np.any(np.abs(vertices) > WALL):
            raise EnvOptionsError(f"state: the object reaches beyond the walls at +-{WALL}")
        if table.distance(shapes, pusher) < PUSHER_RADIUS - self.contact_overlap:
            raise EnvOptionsError(
                f"state: the pusher overlaps the object by more than the {self.contact_overlap:.2f} cm contact leaves"
            )

    def _reset_task(self, options: dict, pose, pusher: np.ndarray):
        """The goal keypoints, goal pose and obstacles: from the options, or sampled around the start pose
        (with obstacles, goals are drawn until the obstacles fit: `place_obstacles`)."""
        obstacles = self._as_obstacles(options["obstacles"]) if "obstacles" in options else None
        if "goal" in options:
            goal = table.as_vector(options["goal"], "goal", len(self.goal_indices))
            goal_pose = self._fit_pose(goal, "goal")
        if obstacles is not None or not self.obstacle_count:
            if "goal" not in options:
                goal_pose = self._sample_goal_pose(pose)
                goal = self.keypoints_at(*goal_pose)
            return goal, goal_pose, obstacles or []
        for _ in range(GOAL_TRIES):
            if "goal" not in options:
                goal_pose = self._sample_goal_pose(pose)
                goal = self.keypoints_at(*goal_pose)
            obstacles = place_obstacles(
                self.np_random,
                self.obstacle_count,
                pose,
                goal_pose,
                lambda at: self.object_polygons_at(*at),
                pusher,
                PUSHER_RADIUS,
                PUSHER_LIMIT,
                self.obstacle_radius,
            )
            if obstacles is not None:
                return goal, goal_pose, obstacles
        raise EnvOptionsError(
            f"cannot place {self.obstacle_count} obstacle(s) between this start and goal (they "
            f"need room in between); give them with the 'obstacles' option"
        )

    def _start_episode(self, body: pymunk.Body, task) -> None:
        self._object = body
        self.goal, self._goal_pose, self.obstacles = task
        for shape in self._space.shapes:
            if shape.body is body:
                shape.collision_type = OBJECT_TYPE
        for corners in self.obstacles:
            obstacle = pymunk.Poly(self._space.static_body, corners.tolist())
            obstacle.friction, obstacle.collision_type = table.CONTACT_FRICTION, OBSTACLE_TYPE
            self._space.add(obstacle)
        self._space.on_collision(OBJECT_TYPE, OBSTACLE_TYPE, pre_solve=self._object_touches)
        self._pusher_before = np.array(self._pusher.position)
        polygons = self.object_polygons_at(*body.position, body.angle)
        self._collisions["object_collision"] = any(
            separation(obstacle, polygon) <= 0 for obstacle in self.obstacles for polygon in polygons
        )

    def _object_touches(self, arbiter, space, data) -> None:
        self._collisions["object_collision"] = True

    def _info(self, cost: float) -> dict:
        """The cost, the episode's obstacles and whether the object or the pusher touched one (see the class)."""
        end = np.array(self._pusher.position)
        self._collisions["pusher_collision"] = any(
            segment_distance(obstacle, self._pusher_before, end) < PUSHER_RADIUS for obstacle in self.obstacles
        )
        return {"cost": cost, "obstacles": [obstacle.copy() for obstacle in self.obstacles], **self._collisions}

    def _object_points(self) -> np.ndarray:
        return self.keypoints_at(*self._object.position, self._object.angle)

    def task_cost(self, observation: np.ndarray) -> float:
        """Mean distance (cm) of the object keypoints to the goal keypoints."""
        return float(self._goal_distances(observation).mean())

    def _draw(self, draw) -> None:
        for obstacle in self.obstacles:
            draw.polygon(table.pixels(obstacle), fill=OBSTACLE_COLOR)
        goal_rotation = _rotation(self._goal_pose[2])
        for polygon in self.object_polygons:
            draw.polygon(table.pixels(polygon @ goal_rotation.T + self._goal_pose[:2]), outline=GOAL_COLOR, width=2)
        if self._space is not None:
            position, rotation = np.array(self._object.position), _rotation(self._object.angle)
            for polygon in self.object_polygons:
                draw.polygon(table.pixels(polygon @ rotation.T + position), fill=OBJECT_COLOR)
            for x, y in table.pixels(self.keypoints_at(*position, self._object.angle).reshape(-1, 2)):
                draw.ellipse([x - 2, y - 2, x + 2, y + 2], fill=KEYPOINT_COLOR)

    # --- internals ------------------------------------------------------------------------------

    def _sample_goal_pose(self, start_pose) -> tuple[float, float, float]:
        if self.obstacle_count:
            return self._sample_far_goal_pose(start_pose)
        direction = self.np_random.uniform(-math.pi, math.pi)
        distance = self.np_random.uniform(*GOAL_SHIFT)
        turn = self.np_random.uniform(-GOAL_TURN, GOAL_TURN)
        centre = np.clip(
            np.array(start_pose[:2]) + distance * np.array([math.cos(direction), math.sin(direction)]),
            -GOAL_HALF_WIDTH,
            GOAL_HALF_WIDTH,
        )
        return float(centre[0]), float(centre[1]), float(start_pose[2] + turn)

    def _sample_far_goal_pose(self, start_pose) -> tuple[float, float, float]:
        """A goal 14 to 18 cm from the start (room for obstacles between them), centre in [-11, 11]^2.

        Raises:
            EnvOptionsError: a given start too far out for any such goal to be found.
        """
        for _ in range(FAR_GOAL_TRIES):
            direction = self.np_random.uniform(-math.pi, math.pi)
            distance = self.np_random.uniform(*OBSTACLE_GOAL_SHIFT)
            turn = self.np_random.uniform(-GOAL_TURN, GOAL_TURN)
            centre = np.array(start_pose[:2]) + distance * np.array([math.cos(direction), math.sin(direction)])
            if np.all(np.abs(centre) <= OBSTACLE_GOAL_LIMIT):
                return float(centre[0]), float(centre[1]), float(start_pose[2] + turn)
        raise EnvOptionsError(
            f"state: no goal 14 to 18 cm away with its centre in [-{OBSTACLE_GOAL_LIMIT}, "
            f"{OBSTACLE_GOAL_LIMIT}]^2 was found for this start; give one with the 'goal' option"
        )

    def _as_obstacles(self, value) -> list[np.ndarray]:
        """The 'obstacles' option as counter-clockwise corner arrays; EnvOptionsError unless it is 0 to 3 convex
        polygons inside the walls."""
        try:
            polygons = [np.asarray(polygon, dtype=np.float64) for polygon in value]
        except (TypeError, ValueError) as exc:
            raise EnvOptionsError("obstacles must be a list of polygons, each (V, 2) corners in cm") from exc
        if len(polygons) > MAX_OBSTACLES:
            raise EnvOptionsError(f"obstacles: at most {MAX_OBSTACLES} polygons, got {len(polygons)}")
        for index, polygon in enumerate(polygons):
            if not is_convex_polygon(polygon):
                raise EnvOptionsError(f"obstacles: polygon {index} is not (V, 2) corners of a convex polygon in order")
            if np.any(np.abs(polygon) > WALL):
                raise EnvOptionsError(f"obstacles: polygon {index} reaches beyond the walls at +-{WALL}")
        return [counter_clockwise(polygon) for polygon in polygons]

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
            raise EnvOptionsError(
                f"{name}: the keypoints are not those of the object at any pose (off by {error:.3g} cm)"
            )
        return float(position[0]), float(position[1]), angle
