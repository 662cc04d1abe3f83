"""ObjectSorting-v0: push discs of several classes each to its class target with a circular pusher (pymunk)."""

from __future__ import annotations

import math

import numpy as np
import pymunk

from envs import table
from envs.errors import EnvOptionsError
from envs.registration import SORTING_ID
from envs.table import PUSHER_RADIUS, WALL

# Geometry, in cm; the table, the pusher and the physics are those of envs.table.
OBJECT_RADIUS = 1.5
MIN_OBJECTS, MAX_OBJECTS = 2, 8
SQUEEZE_SLACK = 1.0  # a row of discs squeezed by the pusher overlaps each other and the walls by up to about this
OBJECT_LIMIT = WALL - OBJECT_RADIUS + SQUEEZE_SLACK  # object centres stay in [-OBJECT_LIMIT, OBJECT_LIMIT]^2
TARGET_DISTANCE = 10.0  # class targets lie evenly on a circle of this radius, class 0 at (-10, 0)
PILE_HALF_WIDTH = 6.0  # initial object centres are uniform in [-6, 6]^2 ...
PILE_GAP = 0.2  # ... at least this far apart (disc edge to disc edge)

# One colour per class (at most MAX_OBJECTS classes), never the pusher's red.
CLASS_COLORS = [
    (70, 110, 200),
    (230, 150, 30),
    (40, 160, 60),
    (150, 80, 190),
    (30, 160, 160),
    (140, 90, 50),
    (220, 110, 170),
    (130, 140, 40),
]
OUTLINE_COLOR = (20, 30, 40)
TARGET_MARK_RADIUS = 3.0  # cm, the ring drawn around a class target; success means discs this close on average


def class_targets(num_classes: int) -> np.ndarray:
    """Target points (num_classes, 2), in cm, evenly spaced counter-clockwise on a circle of radius 10 from (-10, 0)."""
    angles = math.pi + 2 * math.pi * np.arange(num_classes) / num_classes
    return np.round(TARGET_DISTANCE * np.stack([np.cos(angles), np.sin(angles)], axis=1), 9) + 0.0  # no -0.0


class ObjectSortingEnv(table.TableEnv):
    """Sort discs by class: push each disc to the target point of its class with a kinematic circular pusher.

    ## Description
    Top-down pymunk simulation on the table of ObjectPushing-v0 (`envs.table.TableEnv`: same pusher, walls,
    table friction and quasi-static pushing). The objects are discs of radius 1.5 cm, so the centre is the
    whole state of a disc (its rotation is not observed); they push each other when they touch. Units:
    positions in cm, one control step is 0.1 s.

    ## Action Space
    Pusher displacement (dx, dy) in cm for one step, each entry in [-2.5, 2.5] (larger values are clipped).
    The pusher has radius 1 cm.

    ## Observation Space
    float32, 2 + 2 N entries, positions only::

        [pusher_x, pusher_y, obj0_x, obj0_y, ..., obj{N-1}_x, obj{N-1}_y]

    ===========  ==============================  ==========  ====
    index        meaning                         range       unit
    ===========  ==============================  ==========  ====
    0, 1         pusher centre                   [-17, 17]   cm
    2 .. 2N+1    disc centres 0 .. N-1, x y      [-29, 29]   cm
    ===========  ==============================  ==========  ====

    The pusher centre is clamped to its box; walls at +-29.5 keep the discs on the table, so disc centres
    stay in [-29, 29]^2. `workspace_low` and `workspace_high` hold these bounds and are the observation
    space. Unlike the pushing env's single object, discs can be squeezed between the pusher and a wall or
    each other; contacts then overlap by up to about 1 cm (the rigid pusher has no force limit).

    ## Classes
    Each of the N discs (2 to 8, `num_objects`) has one of K classes (2 to N, `num_classes`), fixed for the
    episode: a shuffled balanced assignment (object i has class `classes[i]`, each class held by N // K or
    N // K + 1 discs) drawn from the seed, or `reset(options={"classes": labels})`. The labels are not in
    the observation: they are in `info["classes"]` and `env.unwrapped.classes`.

    ## Goal
    Class k's target is point k of `class_targets` (`env.unwrapped.class_targets`), evenly spaced
    counter-clockwise on a circle of radius 10 cm from (-10, 0): left and right for K = 2.
    `env.unwrapped.goal` holds each object's class target in observation order (2 N entries);
    `goal_indices` are the object entries compared with it.

    ## Rewards
    Minus the cost, the sum over discs of the Euclidean distance (cm) of each disc centre to its class
    target; `info["cost"]` carries it. Discs do not overlap, so the cost stays positive when a class has
    several discs. `success_threshold` is 3 cm per disc (the radius of the drawn target ring): a cost below
    it means the discs lie 3 cm from their targets on average.

    ## Starting State
    Disc centres uniform in [-6, 6]^2 at least 0.2 cm apart (a central pile), pusher uniform in its box at
    least 0.5 cm from every disc; or a full observation vector in `reset(options={"state": observation})`.

    ## Episode End
    Episodes never terminate; the registered env truncates after 100 steps.

    ## Attributes
    `state_layout`, `units`, `goal_indices`, the boxes and `dataset_metadata(seed)` describe the env for
    data files and planners.

    Args:
        num_objects: N, the number of discs, 2 to 8.
        num_classes: K, the number of classes, 2 to N.
        render_mode: None or "rgb_array".

    Raises:
        EnvOptionsError: counts out of range or a render_mode other than "rgb_array" (here), or reset
            options the env cannot use: unknown ones, a pusher outside its box, a disc centre outside
            [-29, 29]^2, discs overlapping each other or the pusher by more than 1 cm, classes that are not
            N integer labels in 0 .. K - 1.
    """

    env_id = SORTING_ID
    reset_options = ("state", "classes")
    object_entries = "positions"
    contact_overlap = SQUEEZE_SLACK  # rows of discs squeezed by the pusher overlap more than one push leaves

    def __init__(self, num_objects: int = 4, num_classes: int = 2, render_mode: str | None = None):
        if not isinstance(num_objects, int) or not MIN_OBJECTS <= num_objects <= MAX_OBJECTS:
            raise EnvOptionsError(
                f"num_objects must be an integer from {MIN_OBJECTS} to {MAX_OBJECTS}, got {num_objects!r}"
            )
        if not isinstance(num_classes, int) or not 2 <= num_classes <= num_objects:
            raise EnvOptionsError(
                f"num_classes must be an integer from 2 to num_objects = {num_objects}, got {num_classes!r}"
            )
        layout = [f"obj{i}_{axis}" for i in range(num_objects) for axis in ("x", "y")]
        super().__init__(
            {"num_objects": num_objects, "num_classes": num_classes},
            layout,
            OBJECT_LIMIT,
            TARGET_MARK_RADIUS * num_objects,
            render_mode,
        )
        self.num_objects, self.num_classes = num_objects, num_classes
        self.class_targets = class_targets(num_classes)
        self._objects: list[pymunk.Body] = []
        self.classes = np.arange(num_objects) % num_classes
        self.goal = self.class_targets[self.classes].ravel()

    def dataset_metadata(self, seed: int | None = None) -> dict:
        """The metadata a transition file of this env carries (see envs.dataset.REQUIRED_METADATA), plus the
        number of objects and classes, the disc radius, the class targets and the interaction graph of the discs
        (any disc may touch any other).

        Args:
            seed: the seed the data was collected with.
        """
        return super().dataset_metadata(seed) | {
            "num_objects": self.num_objects,
            "num_classes": self.num_classes,
            "object_radius": OBJECT_RADIUS,
            "class_targets": self.class_targets.tolist(),
            "graph_edges": "all_pairs",
            "classes": "fixed per episode, not in the state: info['classes'][i] is object i's class, "
            "whose target is class_targets[info['classes'][i]]",
        }

    # --- hooks of TableEnv ----------------------------------------------------------------------

    def _sample_placement(self) -> np.ndarray:
        """Disc centres (N, 2) of a central pile."""
        positions: list[np.ndarray] = []
        while len(positions) < self.num_objects:
            candidate = self.np_random.uniform(-PILE_HALF_WIDTH, PILE_HALF_WIDTH, 2)
            if all(np.linalg.norm(candidate - other) >= 2 * OBJECT_RADIUS + PILE_GAP for other in positions):
                positions.append(candidate)
        return np.array(positions)

    def _placement_from_state(self, entries: np.ndarray) -> np.ndarray:
        return entries.reshape(-1, 2)

    def _build_space(self, positions: np.ndarray) -> tuple[pymunk.Space, list[pymunk.Body], list[pymunk.Circle]]:
        """A fresh space holding the walls and a disc at each position."""
        space = table.new_space()
        support_points = table.support_grid(np.full(2, -OBJECT_RADIUS), np.full(2, OBJECT_RADIUS))  # 2 x 2, inside
        bodies, shapes = [], []
        for position in positions:
            body = pymunk.Body()
            body.position = tuple(position)
            shape = pymunk.Circle(body, OBJECT_RADIUS)
            table.add_object(space, body, [shape], support_points)
            bodies.append(body)
            shapes.append(shape)
        return space, bodies, shapes

    def _check_state(self, pusher: np.ndarray, positions: np.ndarray, shapes: list[pymunk.Circle]) -> None:
        if np.any(np.abs(positions) > OBJECT_LIMIT):
            raise EnvOptionsError(
                f"state: an object centre is outside [-{OBJECT_LIMIT}, {OBJECT_LIMIT}]^2 (walls at +-{WALL})"
            )
        gaps = np.linalg.norm(positions[:, None] - positions[None], axis=-1) - 2 * OBJECT_RADIUS
        first, second = np.triu_indices(self.num_objects, k=1)
        overlapping = np.flatnonzero(gaps[first, second] < -self.contact_overlap)
        if overlapping.size:
            i, j = first[overlapping[0]], second[overlapping[0]]
            raise EnvOptionsError(f"state: objects {i} and {j} overlap")
        pusher_gaps = np.linalg.norm(positions - pusher, axis=1) - OBJECT_RADIUS - PUSHER_RADIUS
        if np.any(pusher_gaps < -self.contact_overlap):
            raise EnvOptionsError(f"state: the pusher overlaps object {int(np.argmin(pusher_gaps))}")

    def _reset_task(self, options: dict, positions: np.ndarray, pusher: np.ndarray) -> np.ndarray:
        """The class labels: `options["classes"]` or a shuffled balanced assignment."""
        if "classes" in options:
            return self._as_classes(options["classes"])
        return self.np_random.permutation(np.arange(self.num_objects) % self.num_classes)

    def _start_episode(self, bodies: list[pymunk.Body], classes: np.ndarray) -> None:
        self._objects = bodies
        self.classes, self.goal = classes, self.class_targets[classes].ravel()

    def _object_points(self) -> np.ndarray:
        return np.array([body.position for body in self._objects])

    def task_cost(self, observation: np.ndarray) -> float:
        """Sum over discs of the distance (cm) of the disc centre to its class target."""
        return float(self._goal_distances(observation).sum())

    def _info(self, cost: float) -> dict:
        return {"cost": cost, "classes": self.classes.copy()}

    def _draw(self, draw) -> None:
        for k, target in enumerate(self.class_targets):
            color = CLASS_COLORS[k]
            table.draw_disc(draw, target, TARGET_MARK_RADIUS, outline=color, width=2)
            table.draw_disc(draw, target, 0.3, fill=color)
        if self._space is not None:
            for body, k in zip(self._objects, self.classes):
                table.draw_disc(draw, body.position, OBJECT_RADIUS, fill=CLASS_COLORS[k], outline=OUTLINE_COLOR)

    # --- internals ------------------------------------------------------------------------------

    def _as_classes(self, value) -> np.ndarray:
        classes = np.asarray(value)
        if classes.shape != (self.num_objects,) or classes.dtype.kind not in "iu":
            raise EnvOptionsError(f"classes must be {self.num_objects} integer labels, got {value!r}")
        if np.any((classes < 0) | (classes >= self.num_classes)):
            raise EnvOptionsError(f"classes must lie in 0 .. {self.num_classes - 1}, got {classes.tolist()}")
        return classes.astype(np.int64)
