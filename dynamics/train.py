"""Training: dense epochs, then sparsification phases down to the ReLU target, with checkpoints.

A run is a list of stages (dense training; per phase: gate training, then fine-tuning). After every
epoch the whole run state (model, optimizer, random-number generators, position) is saved
atomically, so `resume=True` continues an interrupted run exactly where it stopped, and a run is
reproducible bit for bit for a seed on one machine (same thread count; on a GPU, for an MLP, as far as
its kernels are deterministic: a graph model's message sums use atomic adds there).

The run trains on one torch device (`device`: the CPU by default, "cuda" for a GPU; the batch order
comes from a CPU generator, so it is the same on every device, while the gates' samples come from the
device's own generator). The data moves to the device once; checkpoints load on any device.

The model is an MLP or a graph network (`TrainConfig.model`). The loss is the mean squared K-step
open-loop rollout error over windows of K consecutive transitions within one episode (K = 1:
one-step error), in units of the per-entry standard deviation of the state change in the training
data, plus the ReLU-count penalty (over all learned functions) while the gates train.

The finished model's checkpoint also holds the pre-activation ranges of its frozen export on all the
transitions given (training and validation episodes; dynamics.ranges), for the MILP planners' optional
`data_ranges`.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from dynamics.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from dynamics.config import TrainConfig
from dynamics.data import TransitionTensors, split_episodes, standardisation
from dynamics.device import resolve_device
from dynamics.errors import CheckpointError, DataError, TrainingError
from dynamics.evaluate import finite_rollouts, prediction_errors, rollout
from dynamics.gates import count_kinds
from dynamics.graph import GraphDynamics, object_count
from dynamics.mlp import MLPDynamics
from dynamics.ranges import record_ranges
from dynamics.sparsify import budget_schedule, commit_phase, release, relu_penalty, set_relaxed, temperature
from envs.dataset import Transitions


@dataclass(frozen=True)
class Stage:
    kind: str  # "dense", "gates" or "finetune"
    epochs: int
    budget: int | None = None  # ReLU budget of a sparsification phase
    final: bool = False  # last phase: its fine-tuned model is the result

    @property
    def label(self) -> str:
        name = {"dense": "dense training", "gates": "gate training", "finetune": "fine-tuning"}[self.kind]
        return name if self.budget is None else f"{name} (<= {self.budget} ReLU)"


def plan_stages(config: TrainConfig) -> list[Stage]:
    stages = [Stage("dense", config.epochs)]
    if config.relu_target is not None:
        budgets = budget_schedule(config.neurons, config.relu_target)
        for budget in budgets:
            final = budget == budgets[-1]
            stages += [
                Stage("gates", config.phase_epochs, budget, final),
                Stage("finetune", config.phase_epochs, budget, final),
            ]
    return stages


def data_fingerprint(transitions: Transitions) -> str:
    digest = hashlib.sha256()
    for array in (
        transitions.observations,
        transitions.actions,
        transitions.next_observations,
        transitions.episode_ids,
    ):
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:16]


def build_model(config: TrainConfig, transitions: Transitions) -> MLPDynamics | GraphDynamics:
    """A new model of config.model for the data's state and action; DataError if the graph model cannot read the state.

    A graph model runs on `config.edge_set`, else on the edge set the data's env names (metadata "graph_edges",
    e.g. "chain" for a rope), else on "all_pairs".
    """
    if config.model == "graph":
        metadata = transitions.metadata
        edge_set = config.edge_set or metadata.get("graph_edges", "all_pairs")
        return GraphDynamics(
            object_count(metadata["state_layout"]), transitions.action_dim, config.hidden, config.message_dim, edge_set
        )
    return MLPDynamics(transitions.state_dim, transitions.action_dim, config.hidden)


def rollout_loss(
    model: torch.nn.Module, start: torch.Tensor, actions: torch.Tensor, targets: torch.Tensor, scale: torch.Tensor
) -> torch.Tensor:
    """Mean squared rollout error in units of `scale`, the per-entry standard deviation of the state change."""
    return ((rollout(model, start, actions)[:, 1:] - targets) / scale).pow(2).mean()


def network_kind_counts(model: torch.nn.Module) -> dict[str, dict[str, int]]:
    """Kind counts of each learned function (one application each)."""
    return {name: count_kinds(network) for name, network in model.networks().items()}


class TrainingRun:
    """One training run: the model, its optimizer, random state and position in the stage plan, on `device`."""

    def __init__(
        self, transitions: Transitions, config: TrainConfig, out: Path, device: str | torch.device = "cpu"
    ) -> None:
        config.validate()
        self.device = resolve_device(device)
        self.config, self.out = config, Path(out)
        self.metadata = transitions.metadata
        self.inputs = (transitions.observations, transitions.actions)  # for the data ranges at the end
        self.stages = plan_stages(config)
        torch.manual_seed(config.seed)
        self.shuffle = torch.Generator().manual_seed(config.seed)
        train_rows, validation_rows = split_episodes(transitions, config.validation_fraction, config.seed)
        self.train_data = TransitionTensors.from_transitions(transitions, train_rows)
        self.validation_data = TransitionTensors.from_transitions(transitions, validation_rows)
        self.window_starts = torch.as_tensor(self.train_data.window_starts(config.rollout_steps))
        if not len(self.window_starts):
            raise DataError(
                f"no training episode has {config.rollout_steps} consecutive transitions; lower --rollout-steps"
            )
        self.model = build_model(config, transitions)
        self.loss_scale = (
            standardisation(self.train_data.next_states - self.train_data.states)[1].float().to(self.device)
        )
        self.model.fit_normalisation(self.train_data.states, self.train_data.actions, self.train_data.next_states)
        self.model.to(self.device)
        self.train_data, self.validation_data = self.train_data.to(self.device), self.validation_data.to(self.device)
        self.gate_logits = [p for name, p in self.model.named_parameters() if name.endswith("logits")]
        weights = [p for name, p in self.model.named_parameters() if not name.endswith("logits")]
        self.optimizer = torch.optim.Adam(
            [
                {"params": weights, "lr": config.learning_rate},
                {"params": self.gate_logits, "lr": config.gate_learning_rate},
            ]
        )
        self.stage_index, self.epoch = 0, 0
        self.saved_epochs = None  # epochs completed at the last checkpoint of this run
        self.info = {
            "kind_counts": count_kinds(self.model),
            "network_kind_counts": network_kind_counts(self.model),
            "metrics": {"dense": None, "sparse": None},
            "config": config.as_dict(),
            "data": {
                "fingerprint": data_fingerprint(transitions),
                "transitions": len(transitions),
                "train_transitions": len(self.train_data),
                "validation_transitions": len(self.validation_data),
                "validation_episodes": int(np.unique(self.validation_data.episode_ids).size),
            },
            "progress": {"stage": 0, "epoch": 0, "stages": [stage.label for stage in self.stages], "complete": False},
            "last_epoch_loss": None,
            "train_seconds": 0.0,
        }
        if config.model == "graph":
            self.info["graph"] = self.model.graph_info()

    @property
    def complete(self) -> bool:
        return self.stage_index >= len(self.stages)

    def epochs_done(self) -> int:
        return sum(stage.epochs for stage in self.stages[: self.stage_index]) + self.epoch

    def resume(self) -> None:
        """Continue from the checkpoint at `out`, which must come from the same data and options."""
        checkpoint = load_checkpoint(self.out)
        if checkpoint.info.get("config") != self.config.as_dict():
            saved = checkpoint.info.get("config") or {}
            differing = sorted(key for key, value in self.config.as_dict().items() if saved.get(key) != value)
            raise CheckpointError(
                f"cannot resume {self.out}: it was trained with other options ({', '.join(differing)})"
            )
        if checkpoint.metadata.get("env_id") != self.metadata["env_id"]:
            raise CheckpointError(
                f"cannot resume {self.out}: it models {checkpoint.metadata.get('env_id')}, "
                f"the data comes from {self.metadata['env_id']}"
            )
        if checkpoint.info["data"]["fingerprint"] != self.info["data"]["fingerprint"]:
            raise CheckpointError(f"cannot resume {self.out}: it was trained on different data")
        self.model.load_state_dict(checkpoint.model.state_dict())
        self.info = checkpoint.info
        progress = self.info["progress"]
        self.stage_index, self.epoch = progress["stage"], progress["epoch"]
        if checkpoint.training is not None:
            self.optimizer.load_state_dict(checkpoint.training["optimizer"])
            torch.set_rng_state(checkpoint.training["torch_rng"])
            if self.device.type == "cuda" and "cuda_rng" in checkpoint.training:  # a run saved on the CPU has none
                torch.cuda.set_rng_state(checkpoint.training["cuda_rng"], self.device)
            self.shuffle.set_state(checkpoint.training["shuffle_rng"])
        self.saved_epochs = self.epochs_done()

    def run(self, show_progress: bool = True) -> Checkpoint:
        batches = -(-len(self.window_starts) // self.config.batch_size)
        total = sum(stage.epochs for stage in self.stages)
        with tqdm(
            total=total * batches,
            initial=self.epochs_done() * batches,
            unit="batch",
            disable=not show_progress,
            dynamic_ncols=True,
        ) as bar:
            while not self.complete:
                started = time.perf_counter()
                loss = self.run_epoch(bar)
                self.epoch += 1
                if self.epoch == self.stages[self.stage_index].epochs:
                    self.finish_stage()
                self.info["last_epoch_loss"] = loss
                self.info["train_seconds"] += time.perf_counter() - started
                self.save()
        return Checkpoint(model=self.model.eval(), metadata=self.metadata, info=self.info)

    def run_epoch(self, bar: tqdm) -> float:
        """One pass over the shuffled training windows; returns the mean batch loss."""
        stage = self.stages[self.stage_index]
        self.model.train()
        set_relaxed(self.model, stage.kind == "gates", temperature(self.epoch, stage.epochs))
        order = self.window_starts[torch.randperm(len(self.window_starts), generator=self.shuffle)]
        losses = []
        for batch_starts in order.split(self.config.batch_size):
            start, actions, targets = self.train_data.windows(batch_starts, self.config.rollout_steps)
            loss = self.prediction_loss(start, actions, targets)
            if stage.kind == "gates":
                loss = loss + relu_penalty(self.model, stage.budget, self.config.relu_penalty)
            if not torch.isfinite(loss):
                self.fail(f"the loss became {loss.item()} in epoch {self.epoch + 1} of {stage.label}")
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            losses.append(loss.item())
            bar.update()
            if len(losses) % 10 == 1:
                bar.set_postfix_str(
                    f"{stage.label} loss {losses[-1]:.4g} ReLU {count_kinds(self.model)['relu']}", refresh=False
                )
        self.model.eval()
        return float(np.mean(losses))

    def prediction_loss(self, start: torch.Tensor, actions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The rollout loss, plus for a graph model the message penalty on the messages of the rollout."""
        if not self.config.message_penalty:
            return rollout_loss(self.model, start, actions, targets, self.loss_scale)
        with self.model.recording_messages() as sizes:
            loss = rollout_loss(self.model, start, actions, targets, self.loss_scale)
        return loss + self.config.message_penalty * torch.stack(sizes).mean()

    def finish_stage(self) -> None:
        """Stage-end work: validation errors after dense and final training, gate commits after gate
        training, and fresh free gates before each gate-training stage."""
        stage = self.stages[self.stage_index]
        if stage.kind == "dense":
            self.info["metrics"]["dense"] = prediction_errors(self.model, self.validation_data, self.config.eval_steps)
        elif stage.kind == "gates":
            commit_phase(self.model, stage.budget)
        elif stage.final:
            self.info["metrics"]["sparse"] = prediction_errors(self.model, self.validation_data, self.config.eval_steps)
        if self.stage_index + 1 < len(self.stages) and self.stages[self.stage_index + 1].kind == "gates":
            release(self.model)
            for logits in self.gate_logits:  # fresh logits, fresh optimizer state
                self.optimizer.state.pop(logits, None)
        self.stage_index, self.epoch = self.stage_index + 1, 0

    def save(self) -> None:
        if not all(bool(torch.isfinite(p).all()) for p in self.model.parameters()):
            self.fail("the weights became non-finite")
        if not finite_rollouts(self.model, self.metadata, self.config.eval_steps):  # what control and inspect check
            self.fail(f"the model's {self.config.eval_steps}-step predictions became non-finite")
        self.info["kind_counts"] = count_kinds(self.model)
        self.info["network_kind_counts"] = network_kind_counts(self.model)
        self.info["progress"].update(stage=self.stage_index, epoch=self.epoch, complete=self.complete)
        self.info["device"] = self.device.type  # of the last part of the run
        # The finished model's pre-activation ranges on all the data given (training and validation episodes).
        self.model.data_ranges = record_ranges(self.model, *self.inputs) if self.complete else None
        training = None
        if not self.complete:
            training = {
                "optimizer": self.optimizer.state_dict(),
                "torch_rng": torch.get_rng_state(),
                "shuffle_rng": self.shuffle.get_state(),
            }
            if self.device.type == "cuda":
                training["cuda_rng"] = torch.cuda.get_rng_state(self.device)
        save_checkpoint(self.out, self.model, self.metadata, self.info, training)
        self.saved_epochs = self.epochs_done()

    def fail(self, reason: str) -> None:
        if self.saved_epochs is None:
            raise TrainingError(f"{reason}; training stopped before its first checkpoint ({self.out} not written)")
        raise TrainingError(
            f"{reason}; training stopped, {self.out} keeps the last good checkpoint (after {self.saved_epochs} epochs)"
        )


def train(
    transitions: Transitions,
    config: TrainConfig,
    out: str | Path,
    resume: bool = False,
    show_progress: bool = True,
    device: str | torch.device = "cpu",
) -> Checkpoint:
    """Train (or, with `resume` and an existing `out`, continue) a run; returns the final checkpoint.

    Args:
        transitions: the transition data (`envs.dataset.Transitions`); episodes are split into training and
            validation by `config.validation_fraction` and `config.seed`.
        config: the options of the run.
        out: checkpoint file, written atomically after every epoch.
        resume: continue the unfinished run saved at `out` (if it exists) instead of starting afresh.
        show_progress: show a progress bar.
        device: where the model trains: "cpu" (default), "cuda" (or "cuda:N"), or "auto" (cuda if available);
            the returned checkpoint's model stays there. A run saved on one device resumes on any other.

    Raises:
        DeviceError: a CUDA device torch cannot use.
        ModelConfigError: options no run can satisfy (`TrainConfig.validate`).
        DataError: data the model cannot use (no episode long enough for `config.rollout_steps`, a graph model
            on a state that is not pusher + object positions, too few episodes to split).
        CheckpointError: `resume` on a checkpoint of other options, another env or other data, or an
            unwritable `out`.
        TrainingError: the loss, the weights or the model's predictions (`finite_rollouts` over `config.eval_steps`
            steps) became non-finite; `out` keeps the last good checkpoint.
    """
    run = TrainingRun(transitions, config, Path(out), device)
    if resume and Path(out).exists():
        run.resume()
    return run.run(show_progress)
