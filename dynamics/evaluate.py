"""Prediction errors of a dynamics model: one step and open-loop rollouts, in data units."""

from __future__ import annotations

import torch
from torch import nn

from dynamics.data import TransitionTensors


def rollout(model: nn.Module, start: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """Open-loop rollout of `model(state, action) -> next_state`: the one torch rollout of the project.

    Args:
        model: a dynamics model (`MLPDynamics`, `GraphDynamics`) or any module with the same call.
        start: the start state, shared by the batch or one per sequence.
        actions: B action sequences of H steps.

    Shapes:
        start (n,) or (B, n); actions (B, H, m) -> states (B, H + 1, n), the start state first.
    """
    state = start.expand(actions.shape[0], -1)
    states = [state]
    for step in range(actions.shape[1]):
        state = model(state, actions[:, step])
        states.append(state)
    return torch.stack(states, dim=1)


@torch.no_grad()
def prediction_errors(model: nn.Module, data: TransitionTensors, horizon: int) -> dict:
    """Root-mean-square error over all state entries after one step and after `horizon` open-loop steps.

    Args:
        model: a dynamics model; evaluated in eval mode (hard gates), its mode restored afterwards.
        data: the transitions, in the data's units (so the errors are too).
        horizon: H, the open-loop steps of the rollout error.

    Returns:
        {"one_step_rmse", "rollout_rmse", "rollout_steps" (= H), "transitions", "rollout_windows"}; the rollout
        error is None when no episode in `data` has `horizon` consecutive transitions.
    """
    was_training = model.training
    model.eval()
    one_step = model(data.states, data.actions) - data.next_states
    starts = data.window_starts(horizon)
    rollout_rmse = None
    if starts.size:
        start, actions, targets = data.windows(starts, horizon)
        final = rollout(model, start, actions)[:, -1] - targets[:, -1]
        rollout_rmse = float(final.pow(2).mean().sqrt())
    model.train(was_training)
    return {
        "one_step_rmse": float(one_step.pow(2).mean().sqrt()),
        "rollout_rmse": rollout_rmse,
        "rollout_steps": horizon,
        "transitions": len(data),
        "rollout_windows": int(starts.size),
    }
