"""Fixtures shared by several test files."""

import pytest
import torch


def pytest_collection_modifyitems(config, items):
    """Tests marked `cuda` run where torch sees a CUDA GPU and are skipped elsewhere."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (torch.cuda.is_available() is False)")
    for item in items:
        if item.get_closest_marker("cuda") is not None:
            item.add_marker(skip)


@pytest.fixture
def one_thread():
    """Torch on one thread for the test (small models; seeded results depend on the thread count)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
