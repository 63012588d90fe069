"""Times jit forward+backward of the full-size R(2+1)D-18 for each `conv_impl`.

    python benchmarks/conv_formulation.py [--batch 4] [--frames 8] [--size 112]
        [--impls folded,mixed,matmul,im2col,3d] [--iters 5] [--warmup 2] [--json FILE]

One step = BN-train-mode forward of a [B, T, H, W, 3] clip, a scalar loss on the pooled
features, and the gradient with respect to every parameter (what a training step computes for
one view). Reports the median (and min, max) of `--iters` timed steps after `--warmup` untimed
ones, the process CPU time per step ("cpu ms", all threads) and the compile time. The impls are
timed round-robin (each round runs one step of each), so that load from other processes on a
shared machine falls on all of them alike. Prints a table; `--json FILE` also writes the numbers.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

import jax
import jax.numpy as jnp

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from avjax.models.r2plus1d import CONV_IMPLS, DEFAULT_CONV_IMPL, R2Plus1D  # noqa: E402


def build_step(impl: str, batch: int, frames: int, size: int):
    """Compiles the fwd+bwd step for `impl`; returns (compiled, args, compile seconds)."""
    model = R2Plus1D(conv_impl=impl)
    video = jax.random.normal(jax.random.PRNGKey(0), (batch, frames, size, size, 3), jnp.float32)
    variables = jax.jit(lambda x: model.init(jax.random.PRNGKey(1), x, train=True))(video)
    args = (variables["params"], variables["batch_stats"], video)

    def loss_fn(params, batch_stats, video):
        feats, new_state = model.apply({"params": params, "batch_stats": batch_stats}, video,
                                       train=True, mutable=["batch_stats"])
        return jnp.mean(jnp.square(feats)), new_state

    step = jax.jit(jax.value_and_grad(loss_fn, has_aux=True))
    t0 = time.perf_counter()
    compiled = step.lower(*args).compile()
    return compiled, args, time.perf_counter() - t0


def time_impls(impls, batch: int, frames: int, size: int, iters: int, warmup: int) -> list[dict]:
    """Times every impl round-robin (one step of each per round), so that load from other
    processes on a shared machine hits all of them alike."""
    steps = {}
    for impl in impls:
        steps[impl] = build_step(impl, batch, frames, size)
        print(f"  compiled {impl} in {steps[impl][2]:.1f} s", file=sys.stderr, flush=True)
    times = {impl: [] for impl in impls}
    cpu = {impl: [] for impl in impls}
    for i in range(warmup + iters):
        for impl in impls:
            compiled, args, _ = steps[impl]
            t0, c0 = time.perf_counter(), time.process_time()
            jax.block_until_ready(compiled(*args))
            if i >= warmup:
                times[impl].append(time.perf_counter() - t0)
                cpu[impl].append(time.process_time() - c0)
    return [{"impl": impl, "median_ms": 1e3 * statistics.median(times[impl]),
             "min_ms": 1e3 * min(times[impl]), "max_ms": 1e3 * max(times[impl]),
             "cpu_ms": 1e3 * statistics.median(cpu[impl]), "compile_s": steps[impl][2],
             "times_ms": [1e3 * t for t in times[impl]]}
            for impl in impls]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--size", type=int, default=112)
    parser.add_argument("--impls", default=",".join(CONV_IMPLS))
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--json", default=None, help="write the results to this JSON file")
    args = parser.parse_args(argv)
    impls = [s for s in args.impls.split(",") if s]
    for impl in impls:
        if impl not in CONV_IMPLS:
            parser.error(f"--impls: unknown conv_impl {impl!r}; expected some of {CONV_IMPLS}")

    results = time_impls(impls, args.batch, args.frames, args.size, args.iters, args.warmup)

    ref = next((r["median_ms"] for r in results if r["impl"] == "3d"), None)
    shape = f"B={args.batch}, {args.frames}x{args.size}x{args.size}"
    print(f"R(2+1)D-18 jit forward+backward, {shape}, {jax.devices()[0].platform}, "
          f"median of {args.iters} after {args.warmup} warm-ups (default: {DEFAULT_CONV_IMPL})")
    print(f"{'conv_impl':<10} {'median ms':>10} {'min ms':>8} {'max ms':>8} {'cpu ms':>8} "
          f"{'compile s':>10} {'vs 3d':>7}")
    for r in results:
        speedup = f"{ref / r['median_ms']:.2f}x" if ref else "-"
        print(f"{r['impl']:<10} {r['median_ms']:>10.0f} {r['min_ms']:>8.0f} {r['max_ms']:>8.0f} "
              f"{r['cpu_ms']:>8.0f} {r['compile_s']:>10.1f} {speedup:>7}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"benchmark": "conv_formulation", "batch": args.batch, "frames": args.frames,
                       "size": args.size, "iters": args.iters, "warmup": args.warmup,
                       "platform": jax.devices()[0].platform, "device": str(jax.devices()[0]),
                       "cpu_count": os.cpu_count(), "machine": platform.machine(),
                       "jax": jax.__version__, "xla_flags": os.environ.get("XLA_FLAGS", ""),
                       "default_conv_impl": DEFAULT_CONV_IMPL, "results": results}, f, indent=2)
    return results


if __name__ == "__main__":
    main()
