"""Tests run on the CPU with 8 forced host devices, so multi-device code is tested on one machine.

Single-device tests pin `config.mesh = [("data", 1), ("fsdp", 1)]`.
"""
import os
import sys

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
# One XLA cache for the whole run (and the subprocesses it starts): the same step compiles once.
os.environ.setdefault("AVJAX_COMPILATION_CACHE", os.path.join(
    os.environ.get("TMPDIR", "/tmp"), f"avjax-test-xla-cache-{os.getuid()}"))

import pytest  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from avjax import train as _train  # noqa: E402

_train.enable_compilation_cache()


def tiny_config(**overrides):
    """The tiny CrissCross config on one device, with fields overridden."""
    from avjax import configs
    config = configs.load_config(os.path.join(REPO, "configs/crisscross/synthetic.py:variant=tiny"))
    config.mesh = [("data", 1), ("fsdp", 1)]
    for key, value in overrides.items():
        node = config
        *parents, leaf = key.split(".")
        for p in parents:
            node = node[p]
        node[leaf] = value
    return config


@pytest.fixture
def tiny():
    return tiny_config


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "slow(seconds): takes about `seconds` on 2 CPU cores with a cold XLA cache (a "
        "training run or a full-size compile). Slow tests start first, longest first, so the xdist "
        "workers finish together; `-m 'not slow'` leaves them out.")


def pytest_collection_modifyitems(config, items):
    def seconds(item):
        marker = item.get_closest_marker("slow")
        return -(marker.kwargs.get("seconds", marker.args[0] if marker.args else 60)) if marker else 0
    items.sort(key=seconds)  # stable: the rest keep their order
