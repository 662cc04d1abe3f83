"""Where the torch work runs: `--device auto|cpu|cuda` for training, the sampling planners and the sweep.

`resolve_device` turns a device name into a `torch.device` (auto: the first CUDA GPU if torch sees one,
else the CPU) and refuses a CUDA device torch cannot use with one `DeviceError` line. `model_device` is
where a model's parameters live. torch loads inside the functions, so that the CLI can offer
`DEVICE_CHOICES` without loading it.

Seeds give the same results on the same device type only: a CUDA generator draws other numbers than
the CPU one from the same seed, and float sums may round differently, so a seed's plan or trained
model on a GPU is not the one it gives on the CPU (equal in meaning, not in bits).
"""

from __future__ import annotations

from itertools import chain
from typing import TYPE_CHECKING

from dynamics.errors import DeviceError

if TYPE_CHECKING:
    import torch
    from torch import nn

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """The torch device for a name: "auto" (or None): "cuda" if a CUDA GPU is available, else "cpu";
    "cpu"; "cuda" (the current GPU, returned with its index, cuda:0 by default) or "cuda:N"; or a torch.device.

    Raises:
        DeviceError: an unknown name, or a CUDA device torch cannot use (a CPU-only torch build, no GPU
            or driver, an index past the last GPU).
    """
    import torch

    if device is None or device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise DeviceError(f"device {device!r} is not one of {', '.join(DEVICE_CHOICES)} (or cuda:N)") from None
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            reason = (
                "this torch build has no CUDA support (a CPU-only wheel)"
                if torch.version.cuda is None
                else "torch finds no CUDA GPU or driver on this machine"
            )
            raise DeviceError(f"device {device!r} asked for, but {reason}; use --device cpu or auto")
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise DeviceError(
                f"device {device!r} asked for, but this machine has {torch.cuda.device_count()} CUDA GPU(s)"
            )
        if resolved.index is None:  # as the tensors there report it: cuda:0, not cuda
            resolved = torch.device("cuda", torch.cuda.current_device())
    elif resolved.type != "cpu":
        raise DeviceError(f"device {device!r} is not one of {', '.join(DEVICE_CHOICES)} (or cuda:N)")
    return resolved


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter or buffer; the CPU for a module that has neither."""
    import torch

    tensor = next(chain(model.parameters(), model.buffers()), None)
    return torch.device("cpu") if tensor is None else tensor.device
