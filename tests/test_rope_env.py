"""RopeShaping-v0: a pushed rope bends and drags its neighbours, joints stay closed, the angle fit, the sampled goal,
goal and state options and their checks, exploration (what all table envs share: test_table_envs.py)."""

import math

import gymnasium
import numpy as np
import pytest
from scenes import ROPE as ENV_ID
from scenes import points as particles
from scenes import rope_centres, state

from envs.collect import collect_transitions
from envs.errors import EnvOptionsError
from envs.rope import MAX_BEND, PARTICLE_LIMIT, SEGMENT_LENGTH, bends, chain_centres, fit_angles, joint_gaps
from envs.table import MAX_DISPLACEMENT


def test_a_push_across_the_middle_bends_the_rope_and_drags_the_ends():
    env = gymnasium.make(ENV_ID)
    start = state([-3.0, 0.0], rope_centres(10, math.pi / 2))  # along the y axis, particles 4 and 5 at y = -+1.25
    observation, _ = env.reset(seed=0, options={"state": start})
    for _ in range(4):  # 10 cm to the right: 1.5 cm free, 8.5 cm in contact
        observation, *_ = env.step([MAX_DISPLACEMENT, 0.0])
    shift = particles(observation) - particles(start)
    assert shift[4:6, 0] == pytest.approx([8.2, 8.2], abs=0.4)  # the touched particles travel with the pusher
    assert np.all(shift[[0, -1], 0] < 2.0) and np.all(np.abs(shift[[0, -1], 1]) > 2.0)  # the ends are dragged inwards
    assert np.all(np.diff(shift[:5, 0]) > 0) and np.all(np.diff(shift[5:, 0]) < 0)  # a V around the pusher
    links = np.linalg.norm(np.diff(particles(observation), axis=0), axis=1)
    assert np.all(links <= SEGMENT_LENGTH + 0.01) and links.min() > SEGMENT_LENGTH * math.cos(MAX_BEND / 2) - 0.05
    settled, *_ = env.step([0.0, 0.0])
    assert np.abs(particles(settled) - particles(observation)).max() < 0.01  # quasi-static: stops when contact ends

    observation, _ = env.reset(seed=0, options={"state": start})
    for _ in range(4):  # away from the rope
        observation, *_ = env.step([-MAX_DISPLACEMENT, 1.0])
    assert particles(observation) == pytest.approx(particles(start), abs=1e-6)


def test_joints_stay_closed_and_within_their_bend_limit_under_exploration():
    data = collect_transitions(ENV_ID, episodes=6, steps=50, seed=3)
    for centres in data.next_observations[:, 2:].reshape(len(data), -1, 2).astype(np.float64):
        angles = fit_angles(centres)
        assert joint_gaps(centres, angles).max() < 0.15
        assert np.abs(bends(angles)).max() < MAX_BEND + 0.5


def test_fit_angles_recovers_the_segment_angles_of_a_chain():
    rng = np.random.default_rng(0)
    for _ in range(20):
        angles = rng.uniform(-math.pi, math.pi) + np.concatenate([[0.0], np.cumsum(rng.uniform(-1.5, 1.5, 11))])
        centres = chain_centres(rng.uniform(-5, 5, 2), angles)
        fitted = fit_angles(centres)
        assert np.abs(np.angle(np.exp(1j * (fitted - angles)))).max() < 1e-6
        assert bends(fitted) == pytest.approx(bends(angles), abs=1e-6)


def test_reset_accepts_every_observation_a_step_produced_and_continues_from_it():
    """Restoring an observation fits the unobserved segment angles; a step from there mostly ends where the original
    did (contact amplifies what the observation leaves out: float32 rounding, the solver's warm start)."""
    data = collect_transitions(ENV_ID, episodes=4, steps=50, seed=8)
    env = gymnasium.make(ENV_ID)
    errors = []
    for observation, action, following in zip(data.observations, data.actions, data.next_observations):
        restored, _ = env.reset(options={"state": observation, "goal": observation[2:]})
        assert np.array_equal(restored, observation)
        stepped, *_ = env.step(action)
        errors.append(np.abs(stepped - following).max())
    assert np.median(errors) < 0.01 and np.mean(np.array(errors) < 0.1) > 0.9  # cm, against steps of up to 2.5 cm


def test_sampled_goal_is_a_pushed_rope_near_the_start():
    env = gymnasium.make(ENV_ID)
    base = env.unwrapped
    costs = []
    for seed in range(10):
        observation, info = env.reset(seed=seed)
        goal = base.goal.reshape(-1, 2)
        assert joint_gaps(goal, fit_angles(goal)).max() < 0.1 and np.abs(goal).max() < PARTICLE_LIMIT
        assert info["cost"] == pytest.approx(np.linalg.norm(particles(observation) - goal, axis=1).mean(), rel=1e-6)
        costs.append(info["cost"])
    assert 1.0 < np.mean(costs) < 8.0 and min(costs) > base.success_threshold  # pushed, not far away


def test_goal_option_sets_cost_and_reward():
    env = gymnasium.make(ENV_ID)
    goal = rope_centres(10, 0.3, (2.0, -1.0))
    observation, info = env.reset(seed=0, options={"goal": goal})
    assert info["cost"] == pytest.approx(np.linalg.norm(particles(observation) - goal, axis=1).mean(), rel=1e-6)
    observation, reward, *_, info = env.step([1.0, 0.5])
    assert reward == -info["cost"]
    _, info = env.reset(options={"state": observation, "goal": observation[2:]})
    assert info["cost"] == pytest.approx(0.0, abs=1e-6)


def folded(num_particles):
    """A rope bent by 3 rad at its middle joint: more than any push can press a joint."""
    angles = np.where(np.arange(num_particles) < num_particles // 2, 0.0, 3.0)
    return chain_centres(np.zeros(2), angles)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"goal": np.zeros(3)}, "goal must hold 20 finite numbers"),
        ({"goal": rope_centres(10) * 1.2}, "not the segment centres .* open by"),
        ({"goal": folded(10)}, "bent by 3"),
        ({"state": state([-12.0, -12.0], rope_centres(10, 0.0, (20.0, 0.0)))}, "particles lie outside"),
        ({"state": state([0.8, 1.25], rope_centres(10, math.pi / 2))}, "overlaps the rope"),
        ({"state": state([18.0, 0.0], rope_centres(10, math.pi / 2))}, "outside"),
        ({"state": state([1.2, 1.25], rope_centres(10, math.pi / 2))}, None),  # 0.3 cm overlap, as a push leaves
    ],
)
def test_reset_options_are_checked_with_a_clear_error(options, message):
    env = gymnasium.make(ENV_ID)
    if message is None:
        observation, _ = env.reset(seed=0, options=options)
        assert np.array_equal(observation, np.float32(options["state"]))
    else:
        with pytest.raises(EnvOptionsError, match=message):
            env.reset(seed=0, options=options)


@pytest.mark.parametrize("num_particles", [2, 17, 10.0])
def test_bad_particle_counts_are_rejected(num_particles):
    with pytest.raises(EnvOptionsError, match="num_particles"):
        gymnasium.make(ENV_ID, num_particles=num_particles)


def test_rope_pushed_into_a_wall_stays_in_the_workspace_box():
    env = gymnasium.make(ENV_ID)
    observation, _ = env.reset(seed=0, options={"state": state([-1.6, 0.0], rope_centres(10, 0.0, (13.0, 0.0)))})
    for _ in range(8):  # along the rope, which reaches the wall at x = 29.5 and buckles
        observation, *_ = env.step([MAX_DISPLACEMENT, 0.0])
        assert env.observation_space.contains(observation)
    assert particles(observation)[:, 0].max() > 25.0
    env.reset(options={"state": observation})


def test_exploration_moves_the_rope_in_half_the_transitions_and_reaches_every_particle():
    data = collect_transitions(ENV_ID, episodes=20, steps=50, seed=0)
    shift = np.abs(data.next_observations[:, 2:] - data.observations[:, 2:]).reshape(len(data), -1, 2).max(axis=2)
    moved = shift.max(axis=1) > 0.01
    assert data.metadata["moved_fraction"] == pytest.approx(moved.mean())
    assert data.metadata["exploration"] == "RopeExploration" and data.metadata["graph_edges"] == "chain"
    assert 0.45 <= moved.mean() < 0.95
    assert np.all((shift > 0.5).mean(axis=0) > 0.05)  # every particle gets pushed or dragged, the ends too
    assert np.mean(moved & (shift.min(axis=1) < 0.01)) > 0.1  # often only part of the rope moves
    assert data.metadata["episodes_dropped"] == 0
