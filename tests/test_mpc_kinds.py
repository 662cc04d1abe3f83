"""The model-kind dispatch: every bound mode exists for every model kind, and other models are refused."""

from __future__ import annotations

import pytest

from mpc.errors import ProblemError
from mpc.milp.kinds import MODEL_KINDS, model_kind
from mpc.milp.planner import BOUND_MODES


@pytest.mark.parametrize("kind", MODEL_KINDS.values())
def test_every_bound_mode_is_defined_for_every_model_kind(kind):
    assert set(kind.modes) == set(BOUND_MODES)
    for mode in kind.modes.values():
        assert set(mode.tighteners) <= {"linear", "lp"}


def test_a_model_that_is_not_frozen_is_refused():
    with pytest.raises(ProblemError, match="frozen network or graph"):
        model_kind(object())
