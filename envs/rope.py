"""RopeShaping-v0: push a rope (a chain of segments joined by pivot joints) into a goal shape with a circular pusher
(pymunk, top-down)."""

from __future__ import annotations

import math

import numpy as np
import pymunk
from scipy.optimize import least_squares

from envs import table
from envs.errors import EnvOptionsError
from envs.registration import ROPE_ID
from envs.table import MAX_DISPLACEMENT, PUSHER_LIMIT, PUSHER_RADIUS, WALL

# Geometry, in cm; the table, the pusher and the physics are those of envs.table.
SEGMENT_LENGTH = 2.5  # joint to joint: neighbouring particles of a straight rope are this far apart
ROPE_RADIUS = 0.5  # each segment is a capsule of this radius: the rope is 1 cm thick
MIN_PARTICLES, MAX_PARTICLES = 3, 16
SQUEEZE_SLACK = 1.0  # a rope squeezed between the pusher and a wall overlaps the wall by up to about this
PARTICLE_LIMIT = WALL - ROPE_RADIUS + SQUEEZE_SLACK  # particles stay in [-PARTICLE_LIMIT, PARTICLE_LIMIT]^2
START_HALF_WIDTH = 4.0  # the centre of a sampled start rope is uniform in [-4, 4]^2 ...
START_BEND = 0.25  # ... and each joint bent by at most this (rad): a gently curved rope
JOINT_TOLERANCE = 0.2  # cm: positions given to reset must be those of the chain with its joints this close ...
BEND_TOLERANCE = 0.8  # rad: ... and bent at most this much beyond MAX_BEND (a pusher pressing on a bent joint can
# force it further: the kinematic pusher overrides the limit; the largest seen in 10,000 steps was 0.43 rad)

# Physics of the rope (the table friction is envs.table's, at two support points per segment).
SOLVER_ITERATIONS = 100  # pymunk's constraint iterations per substep: a chain of joints needs many to stay closed
JOINT_ERROR_BIAS = 0.0  # fraction of a joint's separation left after 1 s: 0, the solver closes it within a substep
MAX_BEND = math.pi / 2  # rad: a joint bends at most this far either way (a rotary limit): the rope never folds flat

# Sampled goal: the start rope after GOAL_PUSHES random pushes, each at a random particle, across the rope.
GOAL_PUSHES = 3
GOAL_PUSH_LENGTH = (3.0, 8.0)  # cm the pusher travels beyond first contact
GOAL_PUSH_TURN = math.pi / 6  # the push heading is at most this far from the rope's normal
GOAL_APPROACH_GAP = 0.5  # cm between the pusher and the rope where a push starts
SUCCESS_DISTANCE = 1.0  # a mean particle distance below this counts as reaching the goal

ROPE_COLOR, PARTICLE_COLOR, GOAL_COLOR = (70, 110, 200), (20, 30, 80), (40, 160, 60)


def directions(angles: np.ndarray) -> np.ndarray:
    """Unit vectors (..., 2) of angles (...,) in rad."""
    return np.stack([np.cos(angles), np.sin(angles)], axis=-1)


def chain_centres(start: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """Segment centres (N, 2) of a closed chain whose first segment is centred at `start` and segment i points
    along angles[i]: neighbouring segments share a joint, so c_{i+1} = c_i + L/2 (d_i + d_{i+1})."""
    unit = directions(angles)
    links = SEGMENT_LENGTH / 2 * (unit[:-1] + unit[1:])
    return start + np.concatenate([np.zeros((1, 2)), np.cumsum(links, axis=0)])


def joint_gaps(centres: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """Separation (N - 1,) of each joint: segment i's front end to segment i + 1's back end, cm."""
    unit = directions(angles)
    return np.linalg.norm(centres[1:] - centres[:-1] - SEGMENT_LENGTH / 2 * (unit[:-1] + unit[1:]), axis=1)


def fit_angles(centres: np.ndarray) -> np.ndarray:
    """The segment angles (N,) that best close the joints of a chain with these segment centres (N, 2).

    The centres fix the angles (2 (N - 1) joint equations, N angles); least squares from the directions
    between each segment's neighbours copes with the small joint separations a step leaves.
    """
    ahead = np.concatenate([centres[1:], centres[-1:]])
    behind = np.concatenate([centres[:1], centres[:-1]])
    guess = np.arctan2(*(ahead - behind).T[::-1])
    half = SEGMENT_LENGTH / 2

    def residuals(angles: np.ndarray) -> np.ndarray:
        unit = directions(angles)
        return (centres[1:] - centres[:-1] - half * (unit[:-1] + unit[1:])).ravel()

    def jacobian(angles: np.ndarray) -> np.ndarray:
        normal = half * np.stack([np.sin(angles), -np.cos(angles)], axis=-1)  # d residual / d angle of each end
        rows = np.zeros((len(angles) - 1, 2, len(angles)))
        links = np.arange(len(angles) - 1)
        rows[links, :, links] = normal[:-1]
        rows[links, :, links + 1] = normal[1:]
        return rows.reshape(-1, len(angles))

    angles = least_squares(residuals, guess, jac=jacobian, method="lm").x
    return angles[0] + np.concatenate([[0.0], np.cumsum(bends(angles))])  # each bend in [-pi, pi)


def bends(angles: np.ndarray) -> np.ndarray:
    """The bend (N - 1,) at each joint, in [-pi, pi): segment i + 1's angle minus segment i's, rad."""
    return (np.diff(angles) + math.pi) % (2 * math.pi) - math.pi


class RopeShapingEnv(table.TableEnv):
    """Shape a rope: push a chain of N segments on the table into a goal shape with a kinematic circular pusher.

    ## Description
    Top-down pymunk simulation on the table of `envs.table.TableEnv` (same pusher, walls, table friction and
    quasi-static pushing). The rope is N segments (default 10), each a capsule 2.5 cm long from joint to joint
    and 1 cm thick (radius 0.5 cm), of about 3.3 g (pymunk density 1 per cm^2 of the capsule). Neighbouring
    segments are joined end to end by pivot joints: hinges without bending stiffness, unlimited force,
    bending at most 90 degrees either way (a rotary limit), solved with 100 constraint iterations per
    substep and error bias 0 (a joint's separation is corrected within one substep: it stays below about
    0.1 cm while the rope is dragged). Damping is the table friction: each segment rests on the table at
    two support points 1.25 cm apart, whose friction stops it within one substep once nothing pushes it
    (its turning too), so the rope lies where the pusher leaves it. The rope does not collide with itself
    (seen from above, a rope may cross over itself); it collides with the pusher and the walls. The
    particles are the segment centres. Units: positions in cm, one control step is 0.1 s.

    ## Action Space
    Pusher displacement (dx, dy) in cm for one step, each entry in [-2.5, 2.5] (larger values are clipped).
    The pusher has radius 1 cm.

    ## Observation Space
    float32, 2 + 2 N entries, positions only::

        [pusher_x, pusher_y, particle0_x, particle0_y, ..., particle{N-1}_x, particle{N-1}_y]

    ===========  ===================================  ==========  ====
    index        meaning                              range       unit
    ===========  ===================================  ==========  ====
    0, 1         pusher centre                        [-17, 17]   cm
    2 .. 2N+1    particles 0 .. N-1 along the rope    [-30, 30]   cm
    ===========  ===================================  ==========  ====

    Particle i is the centre of segment i; neighbours are at most 2.5 cm apart (2.5 cm where the rope is
    straight). The segment angles are not observed: the centres fix them (`fit_angles`). The pusher centre
    is clamped to its box; walls at +-29.5 keep the rope on the table, so particles stay in [-30, 30]^2 (a
    rope squeezed against a wall by the pusher overlaps it a little). `workspace_low` and `workspace_high`
    hold these bounds and are the observation space.

    ## Goal
    Particle positions (2 N entries, in observation order), `reset(options={"goal": positions})`, the
    segment centres of a chain (see Raises). Without one, the goal is sampled from the seed: the
    start rope after 3 random pushes, each across the rope at a random particle (heading within 30 degrees of
    the rope's normal, from either side), 3 to 8 cm beyond first contact; it is reachable by the pusher
    from the start. `env.unwrapped.goal` holds it; `goal_indices` are the observation entries compared
    with it.

    ## Rewards
    Minus the cost, the mean distance (cm) of the particles to their goal positions; `info["cost"]` carries
    it. `success_threshold` (1 cm): a cost below it counts as reaching the goal.

    ## Starting State
    A gently curved rope (each joint bent by up to 0.25 rad, uniform angle) centred uniformly in [-4, 4]^2,
    pusher uniform in its box at least 0.5 cm from the rope; or a full observation vector in
    `reset(options={"state": observation})`.

    ## Episode End
    Episodes never terminate; the registered env truncates after 100 steps.

    ## Attributes
    `state_layout`, `units`, `goal_indices`, the boxes and `dataset_metadata(seed)` describe the env for
    data files and planners; the metadata's `graph_edges` ("chain") names the interactions: the pusher with
    every particle, each particle with its neighbours along the rope.

    Args:
        num_particles: N, the number of segments (and particles), 3 to 16.
        render_mode: None or "rgb_array".

    Raises:
        EnvOptionsError: a particle count out of range or a render_mode other than "rgb_array" (here), or
            reset options the env cannot use: unknown ones, a pusher outside its box or overlapping the rope
            by more than contact leaves (`contact_overlap`, 0.39 cm), positions outside [-30, 30]^2 or that
            are not the centres of a chain of segments 2.5 cm long (with the best-fitting segment angles,
            `fit_angles`, a joint open by more than 0.2 cm or bent by more than 2.37 rad: the limit of pi / 2
            plus 0.8 rad, as far as the pusher can press a joint beyond it).
    """

    env_id = ROPE_ID
    reset_options = ("state", "goal")
    object_entries = "particles"

    def __init__(self, num_particles: int = 10, render_mode: str | None = None):
        if not isinstance(num_particles, int) or not MIN_PARTICLES <= num_particles <= MAX_PARTICLES:
            raise EnvOptionsError(
                f"num_particles must be an integer from {MIN_PARTICLES} to {MAX_PARTICLES}, got {num_particles!r}"
            )
        layout = [f"particle{i}_{axis}" for i in range(num_particles) for axis in ("x", "y")]
        super().__init__({"num_particles": num_particles}, layout, PARTICLE_LIMIT, SUCCESS_DISTANCE, render_mode)
        self.num_particles = num_particles
        self._segments: list[pymunk.Body] = []
        self.goal = chain_centres(np.zeros(2), np.zeros(num_particles)).ravel()
        self._goal_angles = np.zeros(num_particles)

    def dataset_metadata(self, seed: int | None = None) -> dict:
        """The metadata a transition file of this env carries (see envs.dataset.REQUIRED_METADATA), plus the
        number of particles, the rope's geometry and the interaction graph of the particles.

        Args:
            seed: the seed the data was collected with.
        """
        return super().dataset_metadata(seed) | {
            "num_particles": self.num_particles,
            "segment_length": SEGMENT_LENGTH,
            "rope_radius": ROPE_RADIUS,
            "graph_edges": "chain",
        }

    # --- hooks of TableEnv ----------------------------------------------------------------------

    def _sample_placement(self) -> tuple[np.ndarray, np.ndarray]:
        """Segment centres (N, 2) and angles (N,) of a gently curved rope."""
        bends = self.np_random.uniform(-START_BEND, START_BEND, self.num_particles - 1)
        angles = self.np_random.uniform(-math.pi, math.pi) + np.concatenate([[0.0], np.cumsum(bends)])
        centres = chain_centres(np.zeros(2), angles)
        centre = self.np_random.uniform(-START_HALF_WIDTH, START_HALF_WIDTH, 2)
        return centres - centres.mean(axis=0) + centre, angles

    def _placement_from_state(self, entries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self._fit_chain(entries, "state")

    def _build_space(self, placement) -> tuple[pymunk.Space, list[pymunk.Body], list[pymunk.Segment]]:
        """A fresh space holding the walls and the rope: capsules joined end to end by pivot joints."""
        space = table.new_space()
        space.iterations = SOLVER_ITERATIONS
        rope = pymunk.ShapeFilter(group=1)  # shapes of one non-zero group never collide with each other
        half = SEGMENT_LENGTH / 2
        bodies, shapes = [], []
        for centre, angle in zip(*placement):
            body = pymunk.Body()
            body.position, body.angle = tuple(centre), float(angle)
            shape = pymunk.Segment(body, (-half, 0.0), (half, 0.0), ROPE_RADIUS)
            shape.filter = rope
            table.add_object(space, body, [shape], [(-half / 2, 0.0), (half / 2, 0.0)])
            bodies.append(body)
            shapes.append(shape)
        for behind, ahead in zip(bodies, bodies[1:]):
            joint = pymunk.PivotJoint(behind, ahead, (half, 0.0), (-half, 0.0))
            limit = pymunk.RotaryLimitJoint(behind, ahead, -MAX_BEND, MAX_BEND)
            for constraint in (joint, limit):
                constraint.error_bias = JOINT_ERROR_BIAS
                space.add(constraint)
        return space, bodies, shapes

    def _check_state(self, pusher: np.ndarray, placement, shapes: list[pymunk.Segment]) -> None:
        if table.distance(shapes, pusher) < PUSHER_RADIUS - self.contact_overlap:
            raise EnvOptionsError(
                f"state: the pusher overlaps the rope by more than the {self.contact_overlap:.2f} cm contact leaves"
            )

    def _reset_task(self, options: dict, placement, pusher: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The goal positions and segment angles: `options["goal"]` or the start rope after random pushes (the
        pusher's start is not needed: the pushes start from their own positions)."""
        if "goal" in options:
            goal = table.as_vector(options["goal"], "goal", len(self.goal_indices))
            return goal, self._fit_chain(goal, "goal")[1]
        return self._pushed(placement)

    def _start_episode(self, bodies: list[pymunk.Body], task) -> None:
        self._segments = bodies
        self.goal, self._goal_angles = task

    def _object_points(self) -> np.ndarray:
        return np.array([body.position for body in self._segments])

    def task_cost(self, observation: np.ndarray) -> float:
        """Mean distance (cm) of the particles to their goal positions."""
        return float(self._goal_distances(observation).mean())

    def _draw(self, draw) -> None:
        goal = self.goal.reshape(-1, 2)
        self._draw_segments(draw, goal, self._goal_angles, GOAL_COLOR, 3)
        for x, y in table.pixels(goal):
            draw.ellipse([x - 2, y - 2, x + 2, y + 2], fill=GOAL_COLOR)
        if self._space is not None:
            centres = self._object_points()
            angles = np.array([body.angle for body in self._segments])
            width = round(2 * ROPE_RADIUS * table.RENDER_SCALE)
            ends = self._draw_segments(draw, centres, angles, ROPE_COLOR, width)
            for end in ends.reshape(-1, 2):  # round caps
                table.draw_disc(draw, end, ROPE_RADIUS, fill=ROPE_COLOR)
            for x, y in table.pixels(centres):
                draw.ellipse([x - 2, y - 2, x + 2, y + 2], fill=PARTICLE_COLOR)

    # --- internals ------------------------------------------------------------------------------

    def _fit_chain(self, entries: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Centres (N, 2) and fitted segment angles (N,) of given positions, which must be a chain's."""
        centres = entries.reshape(-1, 2)
        if np.any(np.abs(centres) > PARTICLE_LIMIT):
            raise EnvOptionsError(
                f"{name}: particles lie outside [-{PARTICLE_LIMIT}, {PARTICLE_LIMIT}]^2 (walls at +-{WALL})"
            )
        angles = fit_angles(centres)
        gap, bend = joint_gaps(centres, angles).max(), np.abs(bends(angles)).max()
        if gap > JOINT_TOLERANCE or bend > MAX_BEND + BEND_TOLERANCE:
            raise EnvOptionsError(
                f"{name}: the positions are not the segment centres of a rope of "
                f"{self.num_particles} segments {SEGMENT_LENGTH} cm long with joints bent at most "
                f"{MAX_BEND:.3g} rad (a joint is open by {gap:.3g} cm, bent by {bend:.3g} rad)"
            )
        return centres, angles

    def _pushed(self, placement) -> tuple[np.ndarray, np.ndarray]:
        """Positions (2 N,) and angles (N,) of the rope at `placement` after GOAL_PUSHES random pushes."""
        space, bodies, shapes = self._build_space(placement)
        pusher = None
        for _ in range(GOAL_PUSHES):
            push = self._sample_push(bodies, shapes)
            if push is None:
                continue
            start, heading, length = push
            if pusher is None:
                pusher = table.add_pusher(space, start)
            else:
                pusher.position = tuple(start)
            steps = math.ceil(length / MAX_DISPLACEMENT)
            for _ in range(steps):
                table.move_pusher(space, pusher, heading * length / steps)
        return np.array([body.position for body in bodies]).ravel(), np.array([body.angle for body in bodies])

    def _sample_push(self, bodies: list[pymunk.Body], shapes: list[pymunk.Segment], tries: int = 20):
        """(start, unit heading, travel) of a push across the rope at a random particle, from a free pusher
        position in the pusher's box; None if `tries` draws found none."""
        clearance = ROPE_RADIUS + PUSHER_RADIUS + GOAL_APPROACH_GAP
        for _ in range(tries):
            body = bodies[self.np_random.integers(len(bodies))]
            side = self.np_random.choice([-1.0, 1.0])
            turn = self.np_random.uniform(-GOAL_PUSH_TURN, GOAL_PUSH_TURN)
            heading = directions(body.angle + side * math.pi / 2 + turn)
            length = self.np_random.uniform(*GOAL_PUSH_LENGTH) + GOAL_APPROACH_GAP
            start = np.array(body.position) - clearance * heading
            free = table.distance(shapes, start) >= PUSHER_RADIUS + GOAL_APPROACH_GAP / 2
            if free and np.all(np.abs(start) <= PUSHER_LIMIT):
                return start, heading, length
        return None

    @staticmethod
    def _draw_segments(draw, centres: np.ndarray, angles: np.ndarray, color, width: int) -> np.ndarray:
        """Lines `width` pixels wide along the segments at `centres` (N, 2) turned by `angles` (N,); returns
        their ends (N, 2, 2), cm."""
        ends = centres[:, None] + np.array([-1.0, 1.0])[:, None] * SEGMENT_LENGTH / 2 * directions(angles)[:, None]
        for segment in ends:
            draw.line(table.pixels(segment), fill=color, width=width)
        return ends
