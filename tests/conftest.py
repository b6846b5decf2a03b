import os
from pathlib import Path

import pytest
import torch

import sparsenode as sn

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """Real data beside the checkout (../shared/data), or $SPARSENODE_SHARED_DATA."""
    env = os.environ.get("SPARSENODE_SHARED_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    path = shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"real data not found at {path}; set SPARSENODE_SHARED_DATA to the shared/data folder")
    return path


def pytest_addoption(parser):
    parser.addoption("--device", default="cpu", help="device for tests that fit models: cpu or cuda")


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _quiet_settings():
    sn.settings.progress_bar = False
    yield


@pytest.fixture(scope="module")
def _toy():
    """A small toy_grn (6 genes, 300 cells) made once per test module."""
    import sparsenode as sn

    return sn.datasets.toy_grn(n_genes=6, n_cells=300, seed=1)


@pytest.fixture
def toy(_toy):
    """A fresh copy of the module's toy_grn for each test (tests write into it)."""
    return _toy.copy()
