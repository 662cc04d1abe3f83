"""The table the pusher environments share: walls, a kinematic circular pusher, table friction, stepping,
drawing and dataset metadata (pymunk, top-down, positions in cm).

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
from PIL import Image, ImageDraw

from envs.errors import EnvOptionsError

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

# Rendering: the image shows [-VIEW_LIMIT, VIEW_LIMIT]^2, y up.
RENDER_MODES = ["rgb_array"]
VIEW_LIMIT = 30.0
RENDER_SCALE = 8  # pixels per cm
PUSHER_COLOR = (210, 50, 40)


def check_render_mode(render_mode: str | None) -> None:
    if render_mode is not None and render_mode not in RENDER_MODES:
        raise EnvOptionsError(f"unsupported render_mode {render_mode!r}; only 'rgb_array' is available")


def dataset_metadata(env: gymnasium.Env, default_env_id: str, seed: int | None) -> dict:
    """The metadata a transition file of `env` carries (see envs.dataset.REQUIRED_METADATA)."""
    return {
        "env_id": env.spec.id if env.spec is not None else default_env_id,
        "env_kwargs": dict(env.env_kwargs),
        "state_layout": list(env.state_layout),
        "units": dict(env.units),
        "action_low": env.action_space.low.tolist(),
        "action_high": env.action_space.high.tolist(),
        "workspace_low": env.workspace_low.tolist(),
        "workspace_high": env.workspace_high.tolist(),
        "goal_indices": list(env.goal_indices),
        "seed": seed,
    }


def as_vector(value, name: str, length: int) -> np.ndarray:
    """A reset option as a flat float64 vector of `length` finite numbers, or EnvOptionsError."""
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
        wall = pymunk.Segment(space.static_body, (a[0] * centre_line, a[1] * centre_line),
                              (b[0] * centre_line, b[1] * centre_line), radius=WALL_THICKNESS)
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
    """One control step: move the pusher by the action (clipped to the action box, the pusher kept in its
    box) at constant velocity over the push substeps, then let the objects settle."""
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


def render(render_mode: str | None, draw_scene) -> np.ndarray | None:
    """The rgb_array frame: the table with the pusher's box, then whatever draw_scene(draw) adds."""
    if render_mode is None:
        gymnasium.logger.warn("render() called without a render_mode; make the env with render_mode='rgb_array'")
        return None
    size = int(2 * VIEW_LIMIT * RENDER_SCALE)
    image = Image.new("RGB", (size, size), (90, 90, 90))
    draw = ImageDraw.Draw(image)
    draw.rectangle(pixels([(-WALL, WALL), (WALL, -WALL)]), fill=(235, 232, 225))
    draw.rectangle(pixels([(-PUSHER_LIMIT, PUSHER_LIMIT), (PUSHER_LIMIT, -PUSHER_LIMIT)]), outline=(200, 196, 188))
    draw_scene(draw)
    return np.asarray(image)
