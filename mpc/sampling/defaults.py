"""The sampling planners' default sizes by device type, apart from the planners so that the CLI's `--help`
can show them without loading torch.

A GPU evaluates thousands of sequences in about the time the CPU takes for hundreds (the small models
leave it idle below that; examples/bench_device.py measures sequences per second on both), so its
defaults are larger; `samples` (`--samples`) overrides them.
"""

#: K, sequences per iteration of MPPI, CEM and random shooting (and of the fallback planner), by device type.
DEFAULT_SAMPLES = {"cpu": 256, "cuda": 4096}

#: K, the sequences gradient descent optimises together, by device type.
DEFAULT_STARTS = {"cpu": 16, "cuda": 256}


def describe_defaults() -> str:
    """The defaults as one phrase, for help texts."""
    return (
        f"{DEFAULT_SAMPLES['cpu']} on the CPU, {DEFAULT_SAMPLES['cuda']} on a GPU; gd's starts "
        f"{DEFAULT_STARTS['cpu']} and {DEFAULT_STARTS['cuda']}"
    )
