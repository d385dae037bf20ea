"""Shared test settings: deterministic seeds and the thread count of the CI machines (2 cores)."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _seed_and_threads():
    torch.manual_seed(0)
    torch.set_num_threads(2)
    yield
