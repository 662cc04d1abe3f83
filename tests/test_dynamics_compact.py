"""The compact copy of a gated model: the same function, fewer neurons, the original untouched."""

import numpy as np
import pytest
import torch
from torch import nn

from dynamics.compact import CompactMLP, compact
from dynamics.frozen import FrozenLayer, FrozenNetwork
from dynamics.gates import GatedMLP, NeuronKind
from dynamics.graph import GraphDynamics
from dynamics.mlp import MLPDynamics
from mpc.problem import PlanningProblem
from mpc.sampling.mppi import MPPIPlanner

pytestmark = pytest.mark.usefixtures("one_thread")

STATE_DIM, ACTION_DIM = 4, 2


def sparse_mlp(seed: int, dtype: torch.dtype = torch.float32) -> MLPDynamics:
    """Random weights and normalisation; each hidden layer has removed, identity and ReLU neurons."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = MLPDynamics(STATE_DIM, ACTION_DIM, (32, 24))
    with torch.no_grad():
        model.input_std.copy_(torch.rand(STATE_DIM + ACTION_DIM) + 0.5)
        model.delta_std.copy_(torch.rand(STATE_DIM) + 0.5)
    model.set_kinds([rng.choice(3, size=width, p=[0.6, 0.1, 0.3]) for width in (32, 24)])
    return model.to(dtype).eval()


def test_a_compact_mlp_predicts_as_the_hard_gated_model_with_only_the_kept_neurons():
    model = sparse_mlp(0)
    small = compact(model)
    state, action = torch.randn(200, STATE_DIM) * 5, torch.randn(200, ACTION_DIM) * 3
    with torch.no_grad():
        torch.testing.assert_close(small(state, action), model(state, action), rtol=1e-5, atol=1e-4)
    (network,) = [module for module in small.modules() if isinstance(module, CompactMLP)]
    kept = sum(int((gate.hard_kinds() != NeuronKind.ZERO).sum()) for gate in model.net.gates)
    hidden_rows = sum(getattr(network, f"weight{index}").shape[0] for index in range(network.depth - 1))
    assert 0 < hidden_rows <= kept < 32 + 24  # removed neurons dropped (ReLU-free layers may fold as well)
    assert not list(small.parameters())  # buffers only: gradients flow to the inputs alone


def test_compact_copies_and_leaves_the_model_as_it_was():
    model = sparse_mlp(1).train()
    small = compact(model)
    assert isinstance(model.net, GatedMLP) and model.training
    assert not small.training
    with torch.no_grad():
        model.net.linears[0].weight.mul_(2.0)  # the copy is a snapshot
    state, action = torch.randn(10, STATE_DIM), torch.randn(10, ACTION_DIM)
    with torch.no_grad():
        assert not torch.allclose(small(state, action), model.eval()(state, action))


def test_compact_keeps_the_dtype_and_lets_gradients_reach_the_inputs():
    model = sparse_mlp(2, torch.float64)
    small = compact(model)
    action = torch.randn(7, ACTION_DIM, dtype=torch.float64, requires_grad=True)
    state = torch.randn(7, STATE_DIM, dtype=torch.float64)
    (gradient,) = torch.autograd.grad(small(state, action).sum(), action)
    action_copy = action.detach().clone().requires_grad_(True)
    (expected,) = torch.autograd.grad(model(state, action_copy).sum(), action_copy)
    torch.testing.assert_close(gradient, expected)


def test_a_compact_graph_model_predicts_as_the_gated_one():
    torch.manual_seed(3)
    rng = np.random.default_rng(3)
    model = GraphDynamics(num_objects=3, action_dim=ACTION_DIM, hidden=(16, 12), message_dim=4)
    for network in model.networks().values():
        network.set_kinds([rng.choice(3, size=width, p=[0.3, 0.3, 0.4]) for width in network.hidden])
    model.eval()
    small = compact(model)
    assert not any(isinstance(module, GatedMLP) for module in small.modules())
    state, action = torch.randn(50, 8) * 4, torch.randn(50, ACTION_DIM)
    with torch.no_grad():
        torch.testing.assert_close(small(state, action), model(state, action), rtol=1e-5, atol=1e-4)


def test_a_model_without_gated_mlps_is_used_as_it_is():
    class Drift(nn.Module):
        def forward(self, state, action):
            return state + action

    model = Drift()
    assert compact(model) is model


def test_a_compact_mlp_refuses_a_skip_connection():
    layer = FrozenLayer(np.ones((2, 2)), np.zeros(2), np.zeros(2, dtype=bool))
    with pytest.raises(ValueError, match="skip"):
        CompactMLP(FrozenNetwork(layers=(layer,), skip=np.eye(2)))


def test_a_sampling_planner_evaluates_the_compact_model_with_the_same_costs():
    model = sparse_mlp(4)
    problem = PlanningProblem(
        state=np.ones(STATE_DIM),
        goal=np.zeros(STATE_DIM),
        horizon=5,
        action_low=-np.ones(ACTION_DIM),
        action_high=np.ones(ACTION_DIM),
        state_weights=np.ones(STATE_DIM),
        terminal_weights=np.ones(STATE_DIM),
        time_limit=10.0,
    )
    planner = MPPIPlanner(model, seed=0, samples=32, max_iterations=1)
    assert not any(isinstance(module, GatedMLP) for module in planner.model.modules())
    plan = planner.plan(problem)
    with torch.no_grad():
        states = [torch.as_tensor(problem.state, dtype=torch.float32)]
        for action in torch.as_tensor(plan.actions, dtype=torch.float32):
            states.append(model(states[-1][None], action[None])[0])
    np.testing.assert_allclose(plan.states, torch.stack(states).numpy(), rtol=1e-5, atol=1e-4)
