"""One Cloud Storage emulator for the whole session (fsspec and TensorStore keep their clients, and
with them the endpoint, for the life of the process); each test takes fresh buckets from it."""

from __future__ import annotations

import pytest

from tests.storage.gcs_emulator import gcs_emulator


@pytest.fixture(scope="session")
def gcs():
    with gcs_emulator() as emulator:
        yield emulator
