"""Every production test writes its embedding caches under its own tmp_path, on the CPU."""

import pytest


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path):
    settings.LABELHUB_DATA_DIR = tmp_path / "data"
    settings.LABELHUB_AL_DEVICE = "cpu"
    return settings.LABELHUB_DATA_DIR
