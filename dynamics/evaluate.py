"""Prediction errors of a dynamics model: one step and open-loop rollouts, in data units."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from dynamics.data import TransitionTensors
from dynamics.device import model_device


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
def finite_rollouts(model: nn.Module, metadata: dict, steps: int, samples: int = 64, seed: int = 0) -> bool:
    """Whether the model's open-loop predictions stay finite: the check a model must pass to be kept by
    training and used by `control` and `inspect`.

    `samples` rollouts of `steps` steps start from states drawn uniformly in the workspace box of
    `metadata` (unbounded entries at 0) under actions drawn uniformly in its action box, from a CPU
    generator of its own (`seed`; the global random state is untouched), so that the same states are
    checked whatever the model's device. A model whose weights blew up in training
    overflows float32 within a few steps from any such state; a usable one stays finite.

    Args:
        model: a dynamics model, called in eval mode (its mode is restored afterwards).
        metadata: the data's metadata: "workspace_low", "workspace_high", "action_low", "action_high".
        steps: the horizon of every rollout.
    """
    box = {
        key: torch.as_tensor(
            np.nan_to_num(np.asarray(metadata[key], dtype=np.float64), posinf=0.0, neginf=0.0), dtype=torch.float32
        )
        for key in ("workspace_low", "workspace_high", "action_low", "action_high")
    }
    generator = torch.Generator().manual_seed(seed)

    def uniform(low: torch.Tensor, high: torch.Tensor, *shape: int) -> torch.Tensor:
        return low + torch.rand((*shape, low.shape[0]), generator=generator) * (high - low)

    device = model_device(model)
    start = uniform(box["workspace_low"], box["workspace_high"], samples).to(device)
    actions = uniform(box["action_low"], box["action_high"], samples, steps).to(device)
    was_training = model.training
    model.eval()
    states = rollout(model, start, actions)
    model.train(was_training)
    return bool(torch.isfinite(states).all())


@torch.no_grad()
def prediction_errors(model: nn.Module, data: TransitionTensors, horizon: int) -> dict:
    """Root-mean-square error over all state entries after one step and after `horizon` open-loop steps.

    The errors are summed in float64, so that an error is inf or NaN only where a prediction is.

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
        rollout_rmse = float(final.double().pow(2).mean().sqrt())
    model.train(was_training)
    return {
        "one_step_rmse": float(one_step.double().pow(2).mean().sqrt()),
        "rollout_rmse": rollout_rmse,
        "rollout_steps": horizon,
        "transitions": len(data),
        "rollout_windows": int(starts.size),
    }
