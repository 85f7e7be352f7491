"""Every wrapper test starts from the same RNG state, so statistical checks are reproducible."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(1234)
