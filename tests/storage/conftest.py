"""One Cloud Storage emulator for the whole session (fsspec and TensorStore keep their clients, and
with them the endpoint, for the life of the process); each test takes fresh buckets from it."""

from __future__ import annotations

import os

import pytest

# gcsfs picks its filesystem class when first imported: the plain one, whatever test imports it first
# (its zonal-bucket probe is a gRPC call to Google that would wait minutes here)
os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")

from tests.storage.gcs_emulator import gcs_emulator


@pytest.fixture(scope="session")
def gcs():
    with gcs_emulator() as emulator:
        yield emulator
