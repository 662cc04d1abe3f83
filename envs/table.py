"""The table the pusher environments share: walls, a kinematic circular pusher, table friction, stepping,
drawing and dataset metadata (pymunk, top-down, positions in cm, 0.1 s per control step).

`TableEnv` is the base class of ObjectPushing-v0 and ObjectSorting-v0 (the way gymnasium's `MujocoEnv`
serves `pusher_v5.py`): it holds the constructor part, the `reset` skeleton, `step`, `render` and
`dataset_metadata`; an env fills in hooks for what is its own (object shapes, sampling, checks of a given
state, the observed object points, the cost, drawing). The module functions below build and step the
pymunk space.

Each control step moves the pusher over PUSH_SUBSTEPS substeps, so the pusher travels at most
sqrt(2) * MAX_DISPLACEMENT / PUSH_SUBSTEPS = 0.3 cm (0.3 radius) per substep and never tunnels, then lets
the objects settle for SETTLE_SUBSTEPS. Table friction acts at support points under each object (top-down
friction joints to the static body), strong enough to stop a released object within one substep:
quasi-static pushing.
"""

from __future__ import annotations

import gymnasium
import numpy as np
import pymunk
from gymnasium import spaces
from PIL import Image, ImageDraw

from envs.errors import EnvOptionsError, SimulationError

# Geometry, in cm.
PUSHER_RADIUS = 1.0
PUSHER_LIMIT = 17.0  # the pusher centre stays in [-PUSHER_LIMIT, PUSHER_LIMIT]^2
WALL = 29.5  # inner faces of the walls around the table
WALL_THICKNESS = 5.0  # thick walls: nothing tunnels through them
MAX_DISPLACEMENT = 2.5  # bound on |dx| and |dy| per control step
START_CLEARANCE = 0.5  # a sampled initial pusher is at least this far from every object

# Physics.
CONTROL_PERIOD = 0.1  # s
PUSH_SUBSTEPS = 12
SETTLE_SUBSTEPS = 2
SUBSTEP = CONTROL_PERIOD / (PUSH_SUBSTEPS + SETTLE_SUBSTEPS)
TABLE_FRICTION_ACCELERATION = 1e4  # cm/s^2: table friction force / object mass
SUPPORT_SPACING = 2.0  # cm between support points
CONTACT_FRICTION = 0.5  # of the pusher and the walls; pymunk multiplies it with the object's
OBJECT_FRICTION = 1.0
OBJECT_DENSITY = 1.0
# Shapes in contact overlap a little in an observation: within one push substep the pusher advances up to
# 0.3 cm before the contact solver moves what it touches, and pymunk leaves up to its collision slop of overlap
# at rest. CONTACT_OVERLAP bounds what a step leaves between the pusher and one object it pushes (0.39 cm);
# a state given to reset may overlap that much (TableEnv.contact_overlap).
COLLISION_SLOP = 0.1  # pymunk's default Space.collision_slop, cm
CONTACT_OVERLAP = float(np.sqrt(2)) * MAX_DISPLACEMENT / PUSH_SUBSTEPS + COLLISION_SLOP

# Rendering: the image shows [-VIEW_LIMIT, VIEW_LIMIT]^2, y up.
RENDER_MODES = ["rgb_array"]
VIEW_LIMIT = 30.0
RENDER_SCALE = 8  # pixels per cm
PUSHER_COLOR = (210, 50, 40)


def as_vector(value, name: str, length: int) -> np.ndarray:
    """A reset option as a flat float64 vector of `length` finite numbers.

    Raises:
        EnvOptionsError: `value` is not numeric, has another number of entries, or holds NaN or inf; the
            message names the option (`name`).
    """
    try:
        vector = np.asarray(value, dtype=np.float64).ravel()
    except (TypeError, ValueError) as exc:
        raise EnvOptionsError(f"{name} must be an array of {length} numbers") from exc
    if vector.shape != (length,) or not np.all(np.isfinite(vector)):
        raise EnvOptionsError(f"{name} must hold {length} finite numbers, got shape {np.shape(value)}")
    return vector


# --- simulation ------------------------------------------------------------------------------------


def new_space() -> pymunk.Space:
    """A fresh space (determinism) holding the walls."""
    space = pymunk.Space()
    centre_line = WALL + WALL_THICKNESS  # the rounded segments' inner faces lie at +-WALL
    for a, b in [((-1, -1), (1, -1)), ((1, -1), (1, 1)), ((1, 1), (-1, 1)), ((-1, 1), (-1, -1))]:
        wall = pymunk.Segment(
            space.static_body,
            (a[0] * centre_line, a[1] * centre_line),
            (b[0] * centre_line, b[1] * centre_line),
            radius=WALL_THICKNESS,
        )
        wall.friction = CONTACT_FRICTION
        space.add(wall)
    return space


def add_object(space: pymunk.Space, body: pymunk.Body, shapes: list[pymunk.Shape], support_points) -> None:
    """Add a dynamic body with its shapes, resting on the table at `support_points` (body frame).

    Coulomb friction at the support points: each joint resists the velocity of its point up to its share of
    the friction force. Off-centre pushes therefore turn the object.
    """
    for shape in shapes:
        shape.density = OBJECT_DENSITY
        shape.friction = OBJECT_FRICTION
    space.add(body, *shapes)
    for point in support_points:
        joint = pymunk.PivotJoint(space.static_body, body, (0.0, 0.0), tuple(point))
        joint.max_bias = 0.0  # resist velocity only, never pull back to a position
        joint.max_force = TABLE_FRICTION_ACCELERATION * body.mass / len(support_points)
        space.add(joint)


def support_grid(low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Cell centres of a grid of about SUPPORT_SPACING over the rectangle [low, high] (body frame)."""
    counts = np.maximum(1, np.round((high - low) / SUPPORT_SPACING)).astype(int)
    xs, ys = (low[i] + (np.arange(counts[i]) + 0.5) * (high[i] - low[i]) / counts[i] for i in range(2))
    return np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)


def add_pusher(space: pymunk.Space, position) -> pymunk.Body:
    pusher = pymunk.Body(body_type=pymunk.Body.KINEMATIC)
    pusher.position = tuple(position)
    shape = pymunk.Circle(pusher, PUSHER_RADIUS)
    shape.friction = CONTACT_FRICTION
    space.add(pusher, shape)
    return pusher


def move_pusher(space: pymunk.Space, pusher: pymunk.Body, action) -> None:
    """One control step (0.1 s): move the pusher by the action (cm, clipped to [-2.5, 2.5] per entry, the
    pusher kept in [-17, 17]^2) at constant velocity over the push substeps, then let the objects settle."""
    displacement = np.clip(np.asarray(action, dtype=np.float64), -MAX_DISPLACEMENT, MAX_DISPLACEMENT)
    start = np.array(pusher.position)
    target = np.clip(start + displacement, -PUSHER_LIMIT, PUSHER_LIMIT)
    pusher.velocity = tuple((target - start) / (PUSH_SUBSTEPS * SUBSTEP))
    for _ in range(PUSH_SUBSTEPS):
        space.step(SUBSTEP)
    pusher.velocity = (0.0, 0.0)
    pusher.position = tuple(target)  # exact, free of integration round-off
    for _ in range(SETTLE_SUBSTEPS):
        space.step(SUBSTEP)


def distance(shapes, point) -> float:
    """Distance from a point to the nearest of some pymunk shapes (negative inside)."""
    return min(shape.point_query(tuple(point)).distance for shape in shapes)


def free_pusher_position(rng: np.random.Generator, object_shapes) -> np.ndarray:
    """A pusher position uniform in its box, at least START_CLEARANCE from the objects."""
    while True:
        position = rng.uniform(-PUSHER_LIMIT, PUSHER_LIMIT, 2)
        if distance(object_shapes, position) >= PUSHER_RADIUS + START_CLEARANCE:
            return position


# --- rendering -------------------------------------------------------------------------------------


def pixels(points) -> list[tuple[float, float]]:
    """Workspace cm -> image pixels (y up)."""
    points = np.atleast_2d(points)
    return [((x + VIEW_LIMIT) * RENDER_SCALE, (VIEW_LIMIT - y) * RENDER_SCALE) for x, y in points.tolist()]


def draw_disc(draw: ImageDraw.ImageDraw, centre, radius: float, **style) -> None:
    """A disc of `radius` cm at `centre` (cm); style as for ImageDraw.ellipse."""
    (x, y), radius = pixels(centre)[0], radius * RENDER_SCALE
    draw.ellipse([x - radius, y - radius, x + radius, y + radius], **style)


# --- the base env ----------------------------------------------------------------------------------


class TableEnv(gymnasium.Env):
    """Base class of the table envs: a kinematic circular pusher moving objects on a table with walls.

    An env fills in the hooks below; the base class holds what every table env does the same way:

    - the constructor part: render-mode check, action space (pusher displacement in cm per step, each entry
      in [-2.5, 2.5]), units, `state_layout` (`pusher_x`, `pusher_y`, then the object entries),
      `goal_indices` (the object entries), the workspace box (`workspace_low`, `workspace_high`), which is
      the observation space, and `success_threshold`;
    - `reset`: seeding, the check for unknown options, the start from `options["state"]` (checked) or
      sampled from the seed, a fresh pymunk space with the walls, the objects and the pusher, and the env's
      own options (`reset_options[1:]`, e.g. the goal); the new episode replaces the old one only once every
      option was found valid;
    - `step` (move the pusher, let the objects settle, observe, cost), `render` (the table, the pusher's box,
      the env's drawing, the pusher) and `dataset_metadata`.

    Hooks (`placement` is whatever an env needs to place its objects, e.g. a pose (x, y, angle) in cm and
    rad, or disc centres (N, 2) in cm):

    - `_sample_placement()`: the placement of a sampled start, drawn from `self.np_random`;
    - `_placement_from_state(entries)`: the placement from the object entries of a given state
      (EnvOptionsError if none fits them);
    - `_build_space(placement)`: a fresh space (`new_space()`) with the objects added, as
      `(space, objects, shapes)`;
    - `_check_state(pusher, placement, shapes)`: further checks of a given state (EnvOptionsError; default none);
    - `_reset_task(options, placement, pusher)`: the task of the episode (goal, classes, obstacles, ...) from
      the env's own reset options, or sampled (EnvOptionsError if an option is invalid); `pusher` is the
      pusher's start (cm), which a sampled task may have to keep clear of;
    - `_start_episode(objects, task)`: keep the objects and the task of the new episode;
    - `_object_points()`: the object part of the observation (cm), any shape (it is flattened);
    - `task_cost(observation)`: the task cost of an observation, reward is minus the cost (`_goal_distances`
      helps); public, so that states a model predicts can be priced as the env prices its own;
    - `_draw(draw)`: draw the goal and the objects on the table (PIL ImageDraw, see `pixels`, `draw_disc`);
    - `_info(cost)`: the info dict (default `{"cost": cost}`).

    Class attributes an env sets: `env_id` (its registered id), `reset_options` (`("state", <own>...)`),
    `object_entries` (what the object points are, for the divergence message) and `contact_overlap` (cm, by
    default CONTACT_OVERLAP): how far shapes in contact can overlap after a step. `_check_state` refuses a
    given state only where shapes overlap by more, so that `reset(options={"state": observation})` accepts
    every observation a step produced.

    Args:
        env_kwargs: the keyword arguments the env was made with (recorded in the dataset metadata).
        object_layout: names of the object entries of the observation, e.g. `["obj0_x", "obj0_y", ...]`.
        object_limit: bound (cm) of every object entry: the workspace box is
            [-object_limit, object_limit] for them and [-17, 17] for the pusher.
        success_threshold: a task cost below it counts as reaching the goal (unit of the cost).
        render_mode: None or "rgb_array".

    Raises:
        EnvOptionsError: an unsupported `render_mode`.
    """

    metadata = {"render_modes": RENDER_MODES, "render_fps": round(1 / CONTROL_PERIOD)}
    env_id: str
    reset_options: tuple[str, ...] = ("state",)
    object_entries: str = "entries"
    contact_overlap: float = CONTACT_OVERLAP

    def __init__(
        self,
        env_kwargs: dict,
        object_layout: list[str],
        object_limit: float,
        success_threshold: float,
        render_mode: str | None = None,
    ):
        if render_mode is not None and render_mode not in RENDER_MODES:
            raise EnvOptionsError(f"unsupported render_mode {render_mode!r}; only 'rgb_array' is available")
        self.env_kwargs = env_kwargs
        self.render_mode = render_mode

        self.state_layout = ["pusher_x", "pusher_y"] + list(object_layout)
        self.goal_indices = list(range(2, len(self.state_layout)))
        self.units = {"position": "cm", "action": "cm of pusher displacement per step", "time": "0.1 s per step"}
        limits = np.array([PUSHER_LIMIT] * 2 + [object_limit] * len(object_layout), dtype=np.float32)
        self.workspace_low, self.workspace_high = -limits, limits
        self.observation_space = spaces.Box(self.workspace_low, self.workspace_high, dtype=np.float32)
        self.action_space = spaces.Box(-MAX_DISPLACEMENT, MAX_DISPLACEMENT, shape=(2,), dtype=np.float32)
        self.success_threshold = success_threshold
        self._object_limit = object_limit

        self._space: pymunk.Space | None = None
        self._pusher: pymunk.Body | None = None

    def dataset_metadata(self, seed: int | None = None) -> dict:
        """The metadata a transition file of this env carries (see envs.dataset.REQUIRED_METADATA).

        Args:
            seed: the seed the data was collected with.
        """
        return {
            "env_id": self.spec.id if self.spec is not None else self.env_id,
            "env_kwargs": dict(self.env_kwargs),
            "state_layout": list(self.state_layout),
            "units": dict(self.units),
            "action_low": self.action_space.low.tolist(),
            "action_high": self.action_space.high.tolist(),
            "workspace_low": self.workspace_low.tolist(),
            "workspace_high": self.workspace_high.tolist(),
            "goal_indices": list(self.goal_indices),
            "seed": seed,
        }

    # --- gymnasium API ---------------------------------------------------------------------------

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Start an episode from `options["state"]` or from a start sampled from the seed.

        Args:
            seed: seeds `self.np_random` (the sampled start and task) as in gymnasium.
            options: `"state"`, a full observation vector to start from, and the env's own option
                (`reset_options`, e.g. `"goal"`); see the env's docstring.

        Returns:
            `(observation, info)`: the observation (float32, `len(state_layout)` entries, cm) and
            `{"cost": cost, ...}`.

        Raises:
            EnvOptionsError: an unknown option, or a state or option the env cannot start from; the
                running episode is then left as it was.
        """
        super().reset(seed=seed)
        options = options or {}
        unknown = sorted(set(options) - set(self.reset_options))
        if unknown:
            expected = " and/or ".join(f"'{name}'" for name in self.reset_options)
            raise EnvOptionsError(f"unknown reset option(s) {', '.join(unknown)}; expected {expected}")

        if "state" in options:
            state = as_vector(options["state"], "state", len(self.state_layout))
            pusher, placement = state[:2], self._placement_from_state(state[2:])
            if np.any(np.abs(pusher) > PUSHER_LIMIT):
                raise EnvOptionsError(f"state: pusher {pusher.tolist()} is outside [-{PUSHER_LIMIT}, {PUSHER_LIMIT}]^2")
            space, objects, shapes = self._build_space(placement)
            self._check_state(pusher, placement, shapes)
        else:
            placement = self._sample_placement()
            space, objects, shapes = self._build_space(placement)
            pusher = free_pusher_position(self.np_random, shapes)
        task = self._reset_task(options, placement, pusher)

        # all options were valid: the new episode replaces the old one
        self._space = space
        self._pusher = add_pusher(space, pusher)
        self._start_episode(objects, task)
        observation = self._observation()
        return observation, self._info(self.task_cost(observation))

    def step(self, action):
        """Move the pusher by `action` (cm, clipped to [-2.5, 2.5]) over 0.1 s, then let the objects settle.

        Returns:
            `(observation, reward, terminated, truncated, info)`: reward is minus `info["cost"]`; the env
            itself never terminates or truncates (the registered env has a time limit).

        Raises:
            gymnasium.error.ResetNeeded: before the first `reset`.
            SimulationError: the simulator diverged (a non-finite state or one outside the workspace).
        """
        if self._space is None:
            raise gymnasium.error.ResetNeeded("call reset() before step()")
        move_pusher(self._space, self._pusher, action)
        observation = self._observation()
        cost = self.task_cost(observation)
        return observation, -cost, False, False, self._info(cost)

    def render(self) -> np.ndarray | None:
        """The rgb_array frame: the table with the pusher's box, the env's drawing, then the pusher.

        Shapes:
            (480, 480, 3) uint8, 8 pixels per cm over [-30, 30]^2 cm, y up; None without a render_mode.
        """
        if self.render_mode is None:
            gymnasium.logger.warn("render() called without a render_mode; make the env with render_mode='rgb_array'")
            return None
        size = int(2 * VIEW_LIMIT * RENDER_SCALE)
        image = Image.new("RGB", (size, size), (90, 90, 90))
        draw = ImageDraw.Draw(image)
        draw.rectangle(pixels([(-WALL, WALL), (WALL, -WALL)]), fill=(235, 232, 225))
        draw.rectangle(pixels([(-PUSHER_LIMIT, PUSHER_LIMIT), (PUSHER_LIMIT, -PUSHER_LIMIT)]), outline=(200, 196, 188))
        self._draw(draw)
        if self._space is not None:
            draw_disc(draw, self._pusher.position, PUSHER_RADIUS, fill=PUSHER_COLOR)
        return np.asarray(image)

    # --- shared internals ------------------------------------------------------------------------

    def _observation(self) -> np.ndarray:
        """Pusher position and object points; raises SimulationError if the simulator diverged."""
        points = self._object_points()
        observation = np.concatenate([np.array(self._pusher.position), points.ravel()])
        if not np.all(np.isfinite(observation)) or np.any(np.abs(points) > self._object_limit):
            raise SimulationError(
                f"the simulation diverged: object {self.object_entries} {np.round(points, 2).tolist()}"
            )
        return observation.astype(np.float32)

    def _goal_distances(self, observation: np.ndarray) -> np.ndarray:
        """Distance (cm) of each object point in the observation to its goal point."""
        offsets = (observation[self.goal_indices].astype(np.float64) - self.goal).reshape(-1, 2)
        return np.linalg.norm(offsets, axis=1)

    def _info(self, cost: float) -> dict:
        return {"cost": cost}

    def _check_state(self, pusher: np.ndarray, placement, shapes: list[pymunk.Shape]) -> None:
        """No further checks by default."""

    # --- hooks each env fills in -----------------------------------------------------------------

    def _sample_placement(self):
        raise NotImplementedError

    def _placement_from_state(self, entries: np.ndarray):
        raise NotImplementedError

    def _build_space(self, placement) -> tuple[pymunk.Space, object, list[pymunk.Shape]]:
        raise NotImplementedError

    def _reset_task(self, options: dict, placement, pusher: np.ndarray):
        raise NotImplementedError

    def _start_episode(self, objects, task) -> None:
        raise NotImplementedError

    def _object_points(self) -> np.ndarray:
        raise NotImplementedError

    def task_cost(self, observation: np.ndarray) -> float:
        raise NotImplementedError

    def _draw(self, draw: ImageDraw.ImageDraw) -> None:
        raise NotImplementedError
