"""Training options: `TrainConfig` and the per-model defaults it fills in.

Kept apart from `dynamics.train` and free of torch, so that `sparsedyn train --help` can show the
defaults without loading the training code.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from dynamics.errors import ModelConfigError
from dynamics.frozen import EDGE_SETS

# Per model: the learned functions (each gets the hidden widths) and the defaults of the options left None
# (the graph's edge set stays None: the data's env names it, see dynamics.train.build_model).
MODELS = {
    "mlp": {"networks": 1, "hidden": (128, 128), "message_dim": None, "message_penalty": None, "edge_set": None},
    "graph": {"networks": 2, "hidden": (32, 32), "message_dim": 16, "message_penalty": 1.0, "edge_set": None},
}
GRAPH_OPTIONS = ("message_dim", "message_penalty", "edge_set")


@dataclass(frozen=True)
class TrainConfig:
    """The options of one training run (`sparsedyn train` takes one flag per option).

    Args:
        model: "mlp" (one MLP on the whole state) or "graph" (edge and node networks over the pusher and N objects).
        hidden: hidden widths of the MLP, or of each of the graph's edge and node networks; None: the model's
            default from `MODELS`.
        message_dim: graph only, the edge network's output width; None: the graph default (an MLP keeps None).
        message_penalty: graph only, loss per unit of mean absolute message; None: as `message_dim`.
        edge_set: graph only, the interaction graph (a name of `dynamics.frozen.EDGE_SETS`); None: the one the
            data's env names (metadata "graph_edges"), else "all_pairs".
        relu_target: at most this many ReLU neurons over all networks after sparsification; None keeps the
            model dense.
        rollout_steps: K, the open-loop steps of the training loss (1: one-step error).
        epochs: dense training epochs.
        phase_epochs: per sparsification phase, this many gate-training epochs, then as many fine-tuning epochs.
        batch_size: rollout windows per batch.
        learning_rate: Adam learning rate of the weights.
        gate_learning_rate: Adam learning rate of the neuron gates' logits.
        relu_penalty: loss per expected ReLU neuron above the phase's budget while the gates train.
        validation_fraction: share of the episodes held out for validation.
        eval_steps: H, the open-loop steps of the validation rollout error.
        seed: seeds the episode split, the initialisation and the batch order.

    Construction never fails; `validate` rejects options no run can satisfy.
    """

    model: str = "mlp"  # "mlp" or "graph"
    hidden: tuple[int, ...] | None = None  # of the MLP, or of each of the graph's edge and node networks
    message_dim: int | None = None  # graph only: width of the edge network's output
    message_penalty: float | None = None  # graph only: loss per unit of mean absolute message
    edge_set: str | None = None  # graph only: the interaction graph; None: the data's
    relu_target: int | None = None  # None: keep the model dense
    rollout_steps: int = 4  # K of the training loss
    epochs: int = 100  # dense training
    phase_epochs: int = 20  # per sparsification phase: this many gate epochs, then as many fine-tuning epochs
    batch_size: int = 256
    learning_rate: float = 3e-3
    gate_learning_rate: float = 0.05
    relu_penalty: float = 0.5  # loss per expected ReLU neuron above the phase budget
    validation_fraction: float = 0.2
    eval_steps: int = 8  # H of the validation rollout error
    seed: int = 0

    def __post_init__(self) -> None:
        """Fill the model's defaults for the options left None."""
        for name in ("hidden", *GRAPH_OPTIONS):
            if getattr(self, name) is None and self.model in MODELS:
                object.__setattr__(self, name, MODELS[self.model][name])

    @property
    def neurons(self) -> int:
        """Hidden neurons of the whole model (all learned functions), what the ReLU target counts."""
        return sum(self.hidden) * MODELS[self.model]["networks"]

    def as_dict(self) -> dict:
        """The options as plain JSON-ready values (the form a checkpoint records)."""
        return {**asdict(self), "hidden": list(self.hidden)}

    def validate(self) -> None:
        """Check the options against each other and the model's size.

        Raises:
            ModelConfigError: an unknown model, an empty or zero-width layer, a graph option on an MLP, a ReLU
                target outside [0, neurons], a count below 1, a negative seed, a NaN or infinite rate or penalty,
                a non-positive learning rate, a negative ReLU penalty or a validation fraction outside (0, 1).
        """
        if self.model not in MODELS:
            raise ModelConfigError(f"--model {self.model!r} is not one of {', '.join(MODELS)}")
        if not self.hidden or min(self.hidden) < 1:
            raise ModelConfigError("--hidden needs at least one layer, every width at least 1")
        if self.model == "graph" and (self.message_dim < 1 or self.message_penalty < 0):
            raise ModelConfigError("--message-dim must be at least 1 and --message-penalty non-negative")
        if self.edge_set is not None and self.edge_set not in EDGE_SETS:
            raise ModelConfigError(f"--edge-set {self.edge_set!r} is not one of {', '.join(EDGE_SETS)}")
        for name in GRAPH_OPTIONS:
            if self.model != "graph" and getattr(self, name) is not None:
                raise ModelConfigError(f"--{name.replace('_', '-')} applies to --model graph only")
        if self.relu_target is not None and not 0 <= self.relu_target <= self.neurons:
            hidden = ",".join(map(str, self.hidden))
            networks = " (edge and node networks)" if self.model == "graph" else ""
            raise ModelConfigError(
                f"--relu-target {self.relu_target} is not between 0 and the {self.neurons} hidden neurons "
                f"of --hidden {hidden}{networks}"
            )
        for name in ("rollout_steps", "epochs", "phase_epochs", "batch_size", "eval_steps"):
            if getattr(self, name) < 1:
                raise ModelConfigError(f"--{name.replace('_', '-')} must be at least 1")
        if self.seed < 0:
            raise ModelConfigError(f"--seed must be a non-negative integer, got {self.seed}")
        graph_rates = ("message_penalty",) if self.model == "graph" else ()
        for name in ("learning_rate", "gate_learning_rate", "relu_penalty", *graph_rates):
            if not math.isfinite(getattr(self, name)):
                raise ModelConfigError(f"{name.replace('_', ' ')} must be a finite number, got {getattr(self, name)}")
        if min(self.learning_rate, self.gate_learning_rate) <= 0 or self.relu_penalty < 0:
            raise ModelConfigError("learning rates must be positive and the ReLU penalty non-negative")
        if not 0 < self.validation_fraction < 1:
            raise ModelConfigError("the validation fraction must be between 0 and 1")
