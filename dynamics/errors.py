"""Errors a user of the dynamics models and the training CLI can cause."""


class DynamicsError(Exception):
    """Base class: the CLI prints the message and exits non-zero."""


class DataError(DynamicsError):
    """Training data is unusable for the requested model (wrong env, too few episodes, ...)."""


class ModelConfigError(DynamicsError):
    """A model or training option is impossible, e.g. a ReLU target larger than the network."""


class TrainingError(DynamicsError):
    """Training failed, e.g. the loss or the predictions became non-finite; the last good checkpoint is kept."""


class CheckpointError(DynamicsError):
    """A checkpoint file is missing, corrupt or does not fit the run it should continue."""


class DeviceError(DynamicsError):
    """A torch device that cannot be used here, e.g. `--device cuda` on a machine without a CUDA GPU."""
