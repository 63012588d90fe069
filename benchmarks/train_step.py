"""Train-step throughput of CrissCross: examples/s and step time for the tiny, small and full configs.

Runs on whatever devices are present (the mesh spans all of them), on random inputs of the exact
training shapes, so it measures the jitted step alone: on-device augmentation + log-mel, four
encoder passes, the six SimSiam terms, backward, LARC + Adam.

    python benchmarks/train_step.py [--variants tiny,small,full] [--batch full=4] [--steps 5] [--json FILE]

Compare with performance_anchors.md: the official PyTorch step, B=4 (full size), 2 CPU threads:
0.97 s, 4.1 clips/s.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import jax
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from avjax import configs, sharding, train  # noqa: E402

DEFAULT_BATCH = {"tiny": 32, "small": 64, "full": 4}


def random_batch(spec: dict, batch_size: int, rng: np.random.Generator) -> dict:
    out = {}
    for k, (shape, dtype) in spec.items():
        if dtype == np.uint8:
            out[k] = rng.integers(0, 256, (batch_size,) + shape, dtype=np.uint8)
        elif np.issubdtype(dtype, np.integer):
            out[k] = np.zeros((batch_size,) + shape, dtype)
        else:
            out[k] = (0.1 * rng.standard_normal((batch_size,) + shape)).astype(dtype)
    return out


def time_steps(step, state, batch, rng, steps: int) -> list[float]:
    """Wall seconds of `steps` calls of a compiled train step, each waiting for its metrics."""
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        state, metrics = step(state, batch, rng)
        jax.block_until_ready(metrics)
        times.append(time.perf_counter() - t)
    return times


def bench(variant: str, batch_size: int, steps: int, warmup: int = 2) -> dict:
    config = configs.load_config(f"configs/crisscross/synthetic.py:variant={variant}")
    config.batch_size = batch_size
    config.mesh = [("data", -1), ("fsdp", 1)]
    mesh = sharding.make_mesh(config.mesh)
    setup = train.Setup(config, mesh)
    state = setup.init_state()
    host = random_batch(setup.task.batch_spec(config, train=True), batch_size, np.random.default_rng(0))
    batch = sharding.host_batch_to_global(host, mesh)
    step = setup.jitted_step
    t = time.perf_counter()
    state, metrics = step(state, batch, setup.step_rng)
    jax.block_until_ready(metrics)
    compile_s = time.perf_counter() - t
    for _ in range(warmup - 1):
        state, metrics = step(state, batch, setup.step_rng)
    jax.block_until_ready(metrics)
    times = time_steps(step, state, batch, setup.step_rng, steps)
    med = statistics.median(times)
    return {"variant": variant, "devices": jax.device_count(), "platform": jax.devices()[0].platform,
            "batch": batch_size, "step_s": med, "step_s_min": min(times), "examples_per_s": batch_size / med,
            "compile_s": compile_s, "steps_timed": steps}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", default="tiny,small,full")
    parser.add_argument("--batch", default="", help="per-variant global batch, e.g. full=4,small=64")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--json", default=None, help="write the results here")
    args = parser.parse_args()
    batches = dict(DEFAULT_BATCH)
    for item in filter(None, args.batch.split(",")):
        k, v = item.split("=")
        batches[k] = int(v)
    rows = [bench(v, batches[v], args.steps) for v in args.variants.split(",")]
    print(f"\n{'variant':<8}{'platform':>9}{'devices':>8}{'batch':>7}{'step ms':>10}{'examples/s':>12}{'compile s':>11}")
    for r in rows:
        print(f"{r['variant']:<8}{r['platform']:>9}{r['devices']:>8}{r['batch']:>7}{1e3 * r['step_s']:>10.1f}"
              f"{r['examples_per_s']:>12.1f}{r['compile_s']:>11.1f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"results": rows, "jax": jax.__version__}, f, indent=2)


if __name__ == "__main__":
    main()
