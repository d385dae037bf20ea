"""Shared test settings: deterministic seeds and the thread count of the CI machines (2 cores)."""

import os

# OpenMP threads that spin while waiting stall badly when the 2 cores are shared (tests spawn
# subprocesses); passive waiting keeps small models fast. Must be set before torch is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest  # noqa: E402
import torch  # noqa: E402

# also for fixtures of wider scope, which run before the per-test fixture below: an exact-resume
# check compares runs made inside a module fixture and inside a test, so both use 2 threads
torch.set_num_threads(2)


@pytest.fixture(autouse=True)
def _seed_and_threads():
    torch.manual_seed(0)
    torch.set_num_threads(2)
    yield
