"""Argument types of the command-line options, shared by every `sparsedyn` command.

Each turns the text of an option into a value or raises `argparse.ArgumentTypeError`, so that a value
that makes no sense (a count of 0, a negative seed, an infinite or NaN time budget or learning rate)
is refused while the command line is read, before any file is opened or any work starts; the root
parser (mpc.main) prints the message as one line and exits non-zero.
"""

from __future__ import annotations

import argparse
import math


def count(text: str) -> int:
    """A positive integer: episodes, steps, epochs, widths, workers, threads, ..."""
    value = _integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def non_negative_int(text: str) -> int:
    """An integer of at least 0: a seed, a ReLU target."""
    value = _integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {text}")
    return value


def positive_number(text: str) -> float:
    """A finite number above 0: a time budget in seconds, a learning rate."""
    value = _number(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got {text}")
    return value


def non_negative_number(text: str) -> float:
    """A finite number of at least 0: a penalty weight."""
    value = _number(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative finite number, got {text}")
    return value


def probability(text: str) -> float:
    """A number from 0 to 1."""
    value = _number(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be a probability from 0 to 1, got {text}")
    return value


def discount_factor(text: str) -> float:
    """A number above 0 and at most 1: a discount on later steps' costs."""
    value = _number(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be a number above 0 and at most 1, got {text}")
    return value


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return value
