"""Scaling of the CrissCross train step over 1, 2, 4, 8 devices, its collectives, and FSDP memory.

For each device count: step time and examples/s at a fixed per-device batch (pure data parallel,
mesh data=N, fsdp=1), and the collectives of the compiled step counted in its HLO text, by kind
(all-reduce, all-gather, reduce-scatter, collective-permute, all-to-all; an async start/done pair
counts once). All-reduces are split by the op they came from: forward ones (BatchNorm batch
statistics over the sharded batch, the loss means) and backward ones (parameter gradients and the
backward pass of BatchNorm), with the bytes the backward ones carry next to the parameter bytes.

On a CPU-only machine each device count runs in its own process with
XLA_FLAGS=--xla_force_host_platform_device_count=N: that shows overhead and collective counts,
not speedup (the forced devices share the host's cores). Where accelerators are present, the
first N of them are used, in this process.

--memory compiles the train step of the FULL CrissCross config (49.7M parameters; tiny inputs,
which parameter and optimizer memory do not depend on) for data=8 (replicated) and fsdp=8, reads
`compiled.memory_analysis()` and runs one step in each layout (tests/test_fsdp.py checks it).

    python benchmarks/scaling.py [--variants tiny,small] [--devices 1,2,4,8] [--per_device_batch 4]
                                 [--steps 5] [--memory] [--json FILE]
"""
from __future__ import annotations

import argparse
import collections
import json
import math
import os
import re
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

COLLECTIVES = ("all-reduce", "all-gather", "reduce-scatter", "collective-permute", "all-to-all")
# `%name = TYPE kind(` or `kind-start(`; `-done` ops are the second half of an async pair.
_OP = re.compile(r"^\s*(?:ROOT\s+)?%\S+\s*=\s*(?P<type>.*?)\s(?P<kind>" + "|".join(COLLECTIVES)
                 + r")(?:-start)?\((?P<rest>.*)$", re.M)
_ARRAY = re.compile(r"\b(pred|[a-z]+\d+)\[([\d,]*)\]")
_OP_NAME = re.compile(r'op_name="([^"]*)"')


def _bytes(hlo_type: str) -> int:
    """Bytes of an HLO result type, e.g. `(f32[8]{0}, bf16[3,3]{1,0})` -> 50."""
    total = 0
    for dtype, dims in _ARRAY.findall(hlo_type):
        bits = 8 if dtype == "pred" else int(re.sub(r"\D", "", dtype))
        total += math.prod(int(d) for d in dims.split(",") if d) * bits // 8
    return total


def collectives(hlo_text: str) -> list[dict]:
    """One dict per collective op of a compiled HLO module: kind, bytes (result), op_name, backward.

    An async collective (`all-gather-start` / `-done`) is one op. Async starts return a tuple of
    (operand, result, ...), so their bytes count the operands too; the CPU backend emits none.
    """
    out = []
    for m in _OP.finditer(hlo_text):
        name = _OP_NAME.search(m.group("rest"))
        name = name.group(1) if name else ""
        out.append({"kind": m.group("kind"), "bytes": _bytes(m.group("type")), "op_name": name,
                    "backward": "transpose(" in name})  # JAX names the VJP of an op transpose(jvp(...))
    return out


def count_collectives(hlo_text: str) -> dict[str, int]:
    """{kind: number of ops} for every kind in COLLECTIVES (zeros included)."""
    counts = collections.Counter(op["kind"] for op in collectives(hlo_text))
    return {kind: counts.get(kind, 0) for kind in COLLECTIVES}


def collective_summary(hlo_text: str, param_bytes: int) -> dict:
    """Counts by kind, the all-reduces split forward/backward, and the backward all-reduce bytes
    relative to the parameter bytes (1.0: every gradient is reduced exactly once)."""
    ops = collectives(hlo_text)
    ar = [op for op in ops if op["kind"] == "all-reduce"]
    bwd_bytes = sum(op["bytes"] for op in ar if op["backward"])
    return {"counts": count_collectives(hlo_text),
            "all_reduce_forward": sum(not op["backward"] for op in ar),
            "all_reduce_backward": sum(op["backward"] for op in ar),
            "all_reduce_backward_bytes": bwd_bytes,
            "param_bytes": param_bytes,
            "grad_reduce_ratio": bwd_bytes / param_bytes if param_bytes else 0.0,
            "all_gather_ops": sorted({op["op_name"].rsplit("/", 1)[-1] for op in ops if op["kind"] == "all-gather"})}


# ---------------------------------------------------------------------------------------------
# Step time and collectives at N devices.
# ---------------------------------------------------------------------------------------------

def bench(variant: str, devices: int, per_device_batch: int, steps: int, warmup: int = 1) -> dict:
    """The jitted train step on a data=`devices` mesh (the first `devices` devices)."""
    import jax
    import numpy as np

    from avjax import configs, sharding, train
    from benchmarks.train_step import random_batch, time_steps
    config = configs.load_config(f"configs/crisscross/synthetic.py:variant={variant}")
    config.batch_size = devices * per_device_batch
    config.mesh = [("data", devices), ("fsdp", 1)]
    mesh = sharding.make_mesh(config.mesh)
    setup = train.Setup(config, mesh)
    state = setup.init_state()
    host = random_batch(setup.task.batch_spec(config, train=True), config.batch_size, np.random.default_rng(0))
    batch = sharding.host_batch_to_global(host, mesh)
    t = time.perf_counter()
    step = setup.jitted_step.lower(state, batch, setup.step_rng).compile()
    compile_s = time.perf_counter() - t
    param_bytes = sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(state["params"]))
    summary = collective_summary(step.as_text(), param_bytes)
    for _ in range(warmup):
        state, metrics = step(state, batch, setup.step_rng)
    jax.block_until_ready(metrics)
    times = time_steps(step, state, batch, setup.step_rng, steps)
    med = statistics.median(times)
    return {"variant": variant, "devices": devices, "platform": jax.devices()[0].platform,
            "forced_cpu_devices": jax.devices()[0].platform == "cpu" and devices > 1,
            "batch": config.batch_size, "per_device_batch": per_device_batch, "step_s": med,
            "step_s_min": min(times), "examples_per_s": config.batch_size / med, "compile_s": compile_s,
            "steps_timed": steps, "collectives": summary}


# ---------------------------------------------------------------------------------------------
# FSDP memory: the full config, replicated vs fsdp.
# ---------------------------------------------------------------------------------------------

def memory_config(mesh, fsdp_min_size=None):
    """The full CrissCross config (every parameter at size) with the smallest inputs that run:
    per-device batch 1, 2 frames of 16x16 (the video backbone reduces 32x to 1x1), 0.25 s of
    audio (26 log-mel frames). Parameter and optimizer memory do not depend on these."""
    from avjax import configs
    config = configs.load_config("configs/crisscross/synthetic.py:variant=full")
    config.mesh = mesh
    config.batch_size = math.prod(size for _, size in mesh)
    config.video.num_frames, config.video.crop_size = 2, 16
    config.video.aug.cutout_max_size = 4
    config.audio.seconds = 0.25
    if fsdp_min_size is not None:
        config.fsdp_min_size = fsdp_min_size
    return config


def fsdp_memory(devices: int = 8, fsdp_min_size=None, compile_replicated: bool = True) -> dict:
    """Per-device bytes of the full config's train step, data=`devices` (replicated state) vs
    fsdp=`devices`, from `compiled.memory_analysis()`, and the loss of one step in each layout.

    The step's arguments are (state, batch, rng); `argument_size_in_bytes` is one device's share
    of them, so state bytes = arguments - batch - rng (the batch is split 8 ways in both layouts).
    `state_bytes_from_shardings` sums the shard shapes of the state shardings: the cross-check.
    (jit drops arguments the step does not read, e.g. `label`, so the two may differ by a few bytes.)
    compile_replicated=False skips the replicated compile and step (a full-size compile: the test
    of the fsdp layout needs only the replicated layout's bytes, which its shardings give).
    """
    import jax
    import numpy as np

    from avjax import sharding, train
    from benchmarks.train_step import random_batch
    t = time.perf_counter()
    layouts = {"replicated": [("data", devices), ("fsdp", 1)], "fsdp": [("data", 1), ("fsdp", devices)]}
    setups = {name: train.Setup(memory_config(mesh, fsdp_min_size), sharding.make_mesh(mesh))
              for name, mesh in layouts.items()}
    # One init, in the fsdp layout (each device draws only its shard); the replicated state is a
    # copy (never an alias: each step donates its state), so both start from the same parameters.
    states = {"fsdp": setups["fsdp"].init_state()}
    if compile_replicated:
        states["replicated"] = jax.device_put(states["fsdp"], setups["replicated"].state_sharding, may_alias=False)
    config = setups["fsdp"].config
    host = random_batch(setups["fsdp"].task.batch_spec(config, train=True), config.batch_size,
                        np.random.default_rng(0))
    param_count = sum(x.size for x in jax.tree.leaves(states["fsdp"]["params"]))
    out = {"devices": devices, "param_count": int(param_count), "fsdp_min_size": config.fsdp_min_size,
           "setup_and_init_s": time.perf_counter() - t}
    shard_bytes = lambda x: math.prod(x.sharding.shard_shape(x.shape)) * x.dtype.itemsize  # noqa: E731
    for name, setup in setups.items():
        out[name] = {"state_bytes_from_shardings": sum(shard_bytes(x) for x in jax.tree.leaves(setup.abstract_state))}
        if name not in states:
            continue
        batch = sharding.host_batch_to_global(host, setup.mesh)
        t = time.perf_counter()
        compiled = setup.jitted_step.lower(states[name], batch, setup.step_rng).compile()
        compile_s = time.perf_counter() - t
        mem = compiled.memory_analysis()
        batch_bytes = sum(shard_bytes(x) for x in batch.values())
        rng_bytes = int(jax.random.key_data(setup.step_rng).nbytes)
        r = out[name]
        r.update({"argument_bytes": int(mem.argument_size_in_bytes), "batch_bytes": batch_bytes,
                  "rng_bytes": rng_bytes, "state_bytes": int(mem.argument_size_in_bytes) - batch_bytes - rng_bytes,
                  "output_bytes": int(mem.output_size_in_bytes), "alias_bytes": int(mem.alias_size_in_bytes),
                  "temp_bytes": int(mem.temp_size_in_bytes), "compile_s": compile_s,
                  "collectives": count_collectives(compiled.as_text())})
        t = time.perf_counter()
        _, metrics = compiled(states[name], batch, setup.step_rng)  # donates states[name]
        r["loss"] = float(metrics["loss"])
        r["step_s"] = time.perf_counter() - t
    replicated = out["replicated"].get("state_bytes", out["replicated"]["state_bytes_from_shardings"])
    out["ratio"] = out["fsdp"]["state_bytes"] / replicated
    return out


# ---------------------------------------------------------------------------------------------
# Driver: one process per forced-CPU device count.
# ---------------------------------------------------------------------------------------------

FAST_COMPILE = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"


def run_in_child(devices: int, call: str, kwargs: dict, fast_compile: bool = False) -> dict:
    """`call(**kwargs)` of this module in a fresh process with `devices` forced CPU devices."""
    flags = f"--xla_force_host_platform_device_count={devices}" + (f" {FAST_COMPILE}" if fast_compile else "")
    env = dict(os.environ, JAX_PLATFORMS="cpu", XLA_FLAGS=flags, PYTHONPATH=REPO)
    code = ("import json, sys; from avjax import train; train.enable_compilation_cache(); "
            f"from benchmarks import scaling; r = scaling.{call}(**json.loads(sys.argv[1])); "
            "print('RESULT ' + json.dumps(r))")
    proc = subprocess.run([sys.executable, "-c", code, json.dumps(kwargs)], cwd=REPO, env=env,
                          capture_output=True, text=True)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode or not lines:
        raise RuntimeError(f"{call}({kwargs}) on {devices} forced devices failed ({proc.returncode}):\n"
                           f"{proc.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def print_table(rows: list[dict]) -> None:
    print(f"\n{'variant':<8}{'platform':>9}{'devices':>8}{'batch':>7}{'step ms':>10}{'examples/s':>12}"
          f"{'compile s':>11}  collectives (all-reduce fwd+bwd, grad bytes / param bytes)")
    for r in rows:
        c = r["collectives"]
        kinds = ", ".join(f"{k} {n}" for k, n in c["counts"].items() if n) or "none"
        ar = (f" (all-reduce {c['all_reduce_forward']}+{c['all_reduce_backward']}, "
              f"{c['grad_reduce_ratio']:.2f}x)" if c["counts"]["all-reduce"] else "")
        print(f"{r['variant']:<8}{r['platform']:>9}{r['devices']:>8}{r['batch']:>7}{1e3 * r['step_s']:>10.1f}"
              f"{r['examples_per_s']:>12.1f}{r['compile_s']:>11.1f}  {kinds}{ar}")


def print_memory(m: dict) -> None:
    print(f"\nfull CrissCross ({m['param_count']:,} parameters), {m['devices']} devices, "
          f"fsdp_min_size {m['fsdp_min_size']}: per-device bytes (memory_analysis)")
    print(f"{'layout':<12}{'state':>14}{'arguments':>14}{'temp':>14}{'loss':>14}  collectives")
    for name in ("replicated", "fsdp"):
        r = m[name]
        kinds = ", ".join(f"{k} {n}" for k, n in r["collectives"].items() if n)
        print(f"{name:<12}{r['state_bytes']:>14,}{r['argument_bytes']:>14,}{r['temp_bytes']:>14,}"
              f"{r['loss']:>14.8f}  {kinds}")
    print(f"fsdp / replicated state bytes: {m['ratio']:.4f} (ideal 1/{m['devices']} = {1 / m['devices']:.4f})")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", default="tiny")
    parser.add_argument("--devices", default="1,2,4,8")
    parser.add_argument("--per_device_batch", type=int, default=4)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--memory", action="store_true", help="also the full-config FSDP memory comparison")
    parser.add_argument("--json", default=None, help="write the results here")
    args = parser.parse_args()

    import jax
    counts = [int(n) for n in args.devices.split(",")]
    accelerators = jax.devices()[0].platform != "cpu"
    rows = []
    for variant in args.variants.split(","):
        for n in counts:
            kwargs = dict(variant=variant, devices=n, per_device_batch=args.per_device_batch, steps=args.steps)
            if accelerators:
                if n > jax.device_count():
                    print(f"skipping {n} devices: {jax.device_count()} present")
                    continue
                rows.append(bench(**kwargs))
            else:
                rows.append(run_in_child(n, "bench", kwargs))
            print_table(rows[-1:])
    print_table(rows)
    memory = None
    if args.memory:
        memory = fsdp_memory() if accelerators and jax.device_count() >= 8 else run_in_child(8, "fsdp_memory", {})
        print_memory(memory)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"results": rows, "memory": memory, "jax": jax.__version__}, f, indent=2)


if __name__ == "__main__":
    main()
