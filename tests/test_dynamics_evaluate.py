"""Rollout windows and prediction errors."""

import numpy as np
import torch
from toy import toy_step, toy_transitions

from dynamics.data import TransitionTensors, split_episodes
from dynamics.evaluate import prediction_errors


class ToyModel(torch.nn.Module):
    """The exact toy dynamics as a torch model."""

    def forward(self, state, action):
        return torch.as_tensor(toy_step(state.numpy(), action.numpy()), dtype=state.dtype)


class StandStill(torch.nn.Module):
    def forward(self, state, action):
        return state


def test_windows_stay_inside_episodes_and_skip_gaps():
    transitions = toy_transitions(episodes=3, steps=6)
    rows = np.r_[0:6, 6:9, 10:12, 12:18]  # episode 1 loses its row 9: a gap between rows 8 and 10
    data = TransitionTensors.from_transitions(transitions, rows)
    starts = data.window_starts(3)
    assert starts.tolist() == [0, 1, 2, 3, 6, 11, 12, 13, 14]
    start, actions, targets = data.windows(starts, 3)
    assert torch.equal(start, data.states[starts])
    assert torch.equal(targets[:, -1], data.next_states[starts + 2])
    assert data.window_starts(1).tolist() == list(range(len(rows)))
    assert data.window_starts(7).size == 0


def test_exact_model_has_zero_error_and_standing_still_has_the_state_change_as_error():
    transitions = toy_transitions(episodes=6, steps=12)
    data = TransitionTensors.from_transitions(transitions)
    exact = prediction_errors(ToyModel(), data, horizon=5)
    assert exact["one_step_rmse"] < 1e-6 and exact["rollout_rmse"] < 1e-5
    assert exact["rollout_windows"] == 6 * (12 - 4)

    still = prediction_errors(StandStill(), data, horizon=5)
    change = transitions.next_observations - transitions.observations
    assert np.isclose(still["one_step_rmse"], np.sqrt(np.mean(change**2)), rtol=1e-5)
    starts = data.window_starts(5)
    five_step_change = transitions.next_observations[starts + 4] - transitions.observations[starts]
    assert np.isclose(still["rollout_rmse"], np.sqrt(np.mean(five_step_change**2)), rtol=1e-5)


def test_rollout_error_is_none_when_episodes_are_shorter_than_the_horizon():
    data = TransitionTensors.from_transitions(toy_transitions(episodes=2, steps=4))
    assert prediction_errors(StandStill(), data, horizon=8)["rollout_rmse"] is None


def test_episode_split_is_seeded_and_disjoint():
    transitions = toy_transitions(episodes=10, steps=3)
    train, validation = split_episodes(transitions, 0.2, seed=0)
    assert np.unique(transitions.episode_ids[validation]).size == 2
    assert not set(transitions.episode_ids[train]) & set(transitions.episode_ids[validation])
    assert np.array_equal(split_episodes(transitions, 0.2, seed=0)[1], validation)
    assert sorted(np.r_[train, validation]) == list(range(30))
