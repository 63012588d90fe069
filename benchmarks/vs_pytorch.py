"""The CrissCross train step in avjax and in PyTorch, side by side: examples/s and the ratio.

    python benchmarks/vs_pytorch.py [--batch 4] [--iters 5] [--warmup 2] [--threads N]
        [--device cpu|gpu|all] [--conv-impl mixed|folded,mixed,...|all] [--channels-last]
        [--precision fp32|bf16] [--tiny] [--json FILE]

Both sides run one full training step of the same model on the same batch from the same weights:
four encoder passes (2 video views, 2 audio views, each view on its own for per-view BatchNorm
statistics), the 6 symmetric SimSiam terms with stop-gradient, backward, LARC + Adam over the four
official parameter groups.

- avjax: the trainer's own jitted step (`avjax.train.Setup.jitted_step`, donated state) of the
  config `configs/crisscross/synthetic.py:variant=full` (the paper's architecture and input; `--tiny`
  takes `variant=tiny` at two blocks a stage), on a one-device mesh of the platform. Two forms are timed:
    "avjax"            the step fed the augmented views and log-mels, as the PyTorch step is
                       (the task's `preprocess` replaced by the identity): the like-for-like row;
    "avjax +preprocess" the step as `avjax train` runs it: uint8 frames and waveforms in, colour
                       augmentation, log-mel and SpecAugment on the device inside the step
                       (the official code does that work in its data-loader workers instead).
- PyTorch: `benchmarks/torch_reference.py`, the official architecture and step (LARC around Adam),
  with the avjax initial weights copied in; fp32 (the official AMP is CUDA-only; `--precision bf16`
  autocasts both sides).

The batch: random uint8 clips and waveforms (`train_step.random_batch`) turned into views by
avjax's on-device preprocessing once; the same float arrays feed the PyTorch step (NCTHW / NCHW)
and the "avjax" rows (NTHWC / NFT) at every step, and PyTorch's group learning rates follow
avjax's schedules step by step. Every row starts from the same weights, so the like-for-like rows
give the same loss at the first step and again after one LARC + Adam update (a few 1e-6 in
fp32); the largest difference over those two steps is printed ("loss diff"). Later losses drift
apart through rounding, not through a difference in the step: some gradients are exactly 0 in
theory (the projector's output BN bias: the predictor's BN removes any shift of z), and Adam
normalises the rounding noise there (~1e-10) into full-size updates, differently on each side.

Timing: every row's step is compiled (jit) or warmed up first, then the rows are timed
round-robin, one step of each per round, so load from other processes on a shared machine falls
on all of them alike. Reported: median wall time per step (min and max), the process CPU time per
step (all threads), examples/s = batch / median, and the ratio avjax examples/s / PyTorch
examples/s (above 1: avjax is faster). `--threads N` gives PyTorch N intra-op threads and pins
the process to N CPUs (XLA's CPU thread pool is sized from the CPUs the process may run on);
default: all the CPUs the process may use. On a busy machine multi-threaded PyTorch spin-waits
(OpenMP) whenever one of its threads loses its CPU, up to 10x slower (measured); the benchmark
warns, and `--threads 1` or OMP_WAIT_POLICY=PASSIVE give usable numbers there. With
$AVJAX_COMPILATION_CACHE set, compiled steps are kept in (and taken from) that persistent cache,
as the trainer does. On a GPU: one device each, PyTorch with cudnn.benchmark (as the official
script) and TF32 matmuls and convolutions (JAX's default fp32 precision there).

Compare with performance_anchors.md: the official PyTorch step at B=4 with 2 CPU threads, 0.97 s
(4.1 clips/s).
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import functools
import json
import os
import platform
import re
import statistics
import sys
import time

# Two frameworks share one GPU: JAX must not take 75% of its memory up front.
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

import jax  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
from avjax import configs, sharding, train  # noqa: E402
from avjax.models import count_params  # noqa: E402
from avjax.models.r2plus1d import CONV_IMPLS, DEFAULT_CONV_IMPL  # noqa: E402
from avjax.tasks import crisscross as crisscross_task  # noqa: E402
from benchmarks import torch_reference  # noqa: E402
from benchmarks.train_step import random_batch  # noqa: E402

FULL_CONFIG = "configs/crisscross/synthetic.py:variant=full"
TINY_CONFIG = "configs/crisscross/synthetic.py:variant=tiny"
MODULES = ("video_backbone", "audio_backbone", "video_projector", "audio_projector",
           "video_predictor", "audio_predictor")


# ---------------------------------------------------------------------------------------------
# Threads.
# ---------------------------------------------------------------------------------------------

def pin_threads(threads: int | None) -> int:
    """PyTorch intra-op threads = `threads`, and the process pinned to that many CPUs (XLA sizes
    its CPU thread pool from the CPUs the process may run on). Call before JAX starts a backend."""
    allowed = sorted(os.sched_getaffinity(0))
    threads = threads or len(allowed)
    if threads > len(allowed):
        raise SystemExit(f"--threads {threads}: this process may use only {len(allowed)} CPUs")
    if threads < len(allowed):
        os.sched_setaffinity(0, allowed[:threads])
    torch.set_num_threads(threads)
    return threads


# ---------------------------------------------------------------------------------------------
# avjax variables -> the official PyTorch state-dict keys.
# ---------------------------------------------------------------------------------------------

_RENAMES = ((r"/stem_conv/", "/conv1.0/"), (r"/stem_bn/", "/conv1.1/"),
            (r"/(conv\dx|block\d)_(\d+)/", r"/\1.\2/"),
            (r"/downsample_conv/", "/downsample.0/"), (r"/downsample_bn/", "/downsample.1/"),
            (r"/layer(\d)_linear/", r"/layer\1.0/"), (r"/layer(\d)_bn/", r"/layer\1.1/"))
_LEAVES = {"scale": "weight", "bias": "bias", "mean": "running_mean", "var": "running_var"}


def _torch_leaves(variables):
    """(official state-dict key, avjax leaf, kind) for every leaf of {"params", "batch_stats"};
    kind "conv" ([..spatial, Cin, Cout] -> [Cout, Cin, ..spatial]), "dense" ([in, out] -> [out, in])
    or "same"."""
    for collection in ("params", "batch_stats"):
        for path, leaf in jax.tree_util.tree_flatten_with_path(variables[collection])[0]:
            name = "/" + "/".join(p.key for p in path)
            for pattern, repl in _RENAMES:
                name = re.sub(pattern, repl, name)
            *modules, leaf_name = name.strip("/").split("/")
            kind = "same"
            if leaf_name == "kernel":
                leaf_name, kind = "weight", "conv" if len(leaf.shape) > 2 else "dense"
            else:
                leaf_name = _LEAVES[leaf_name]
            yield ".".join(modules + [leaf_name]), leaf, kind


def torch_shapes_from_avjax(variables) -> dict[str, tuple[int, ...]]:
    """{official state-dict key: shape} of avjax variables (arrays or `jax.eval_shape` output)."""
    out = {}
    for key, leaf, kind in _torch_leaves(variables):
        shape = tuple(leaf.shape)
        out[key] = (shape[-1], shape[-2], *shape[:-2]) if kind == "conv" else shape[::-1] if kind == "dense" else shape
    return out


def torch_state_from_avjax(variables) -> dict[str, np.ndarray]:
    """{"params", "batch_stats"} of the avjax CrissCross -> {official state-dict key: array}."""
    out = {}
    for key, leaf, kind in _torch_leaves(variables):
        value = np.asarray(leaf, dtype=np.float32)
        value = np.moveaxis(value, (-1, -2), (0, 1)) if kind == "conv" else value.T if kind == "dense" else value
        out[key] = np.array(value, order="C")  # a writable copy
    return out


def check_layout(model: torch_reference.CrissCross, shapes: dict[str, tuple[int, ...]]) -> None:
    """Raises unless `shapes` names every parameter and BN statistic of `model` (num_batches_tracked
    aside), and nothing else, with the same shapes."""
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    missing, extra = sorted(set(expected) - set(shapes)), sorted(set(shapes) - set(expected))
    bad = [f"{k}: {shapes[k]} vs {expected[k]}" for k in expected if k in shapes and shapes[k] != expected[k]]
    if missing or extra or bad:
        raise ValueError(f"avjax -> PyTorch weights: missing {missing[:5]}, unexpected {extra[:5]}, "
                         f"shape mismatch {bad[:5]}")


def load_avjax_weights(model: torch_reference.CrissCross, variables) -> None:
    """Copies the avjax variables into the PyTorch model (`check_layout` first)."""
    state = torch_state_from_avjax(variables)
    check_layout(model, {k: v.shape for k, v in state.items()})
    model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=False)


def build_torch_model(config) -> torch_reference.CrissCross:
    m = config.model
    return torch_reference.CrissCross(
        tuple(m.video_widths), tuple(m.video_blocks), tuple(m.audio_widths), tuple(m.audio_blocks),
        m.proj_hidden, m.proj_dim, m.proj_layers, m.pred_hidden)


def avjax_param_counts(params) -> dict[str, int]:
    counts = {k: count_params(params[k]) for k in MODULES}
    counts["total"] = count_params(params)
    return counts


# ---------------------------------------------------------------------------------------------
# The avjax side.
# ---------------------------------------------------------------------------------------------

@contextlib.contextmanager
def video_conv_impl(impl: str):
    """The CrissCross task builds its R2Plus1D with the default `conv_impl`; while this context is
    open it builds it with `impl`. Flax builds submodules when a function is traced, so model init
    and the step's compile (`Row.jax`) must happen inside."""
    original = crisscross_task.R2Plus1D
    crisscross_task.R2Plus1D = functools.partial(original, conv_impl=impl)
    try:
        yield
    finally:
        crisscross_task.R2Plus1D = original


class _PreprocessedTask:
    """The task, with `preprocess` the identity: the step takes the augmented views as they are."""

    def __init__(self, task):
        self._task = task

    def __getattr__(self, name):
        return getattr(self._task, name)

    @staticmethod
    def preprocess(batch, rng, train, *, config):
        del rng, train, config
        return batch


def avjax_steps(config, mesh, impl: str, views: dict, host_batch: dict, with_preprocess: bool):
    """{row name: Row} for the avjax step with `impl` (compiled here), the initial variables, and
    the Setup."""
    rows = {}
    with video_conv_impl(impl):
        setup = train.Setup(config, mesh)
        rng = jax.device_put(setup.step_rng, setup.repl)
        like_torch = copy.copy(setup)
        like_torch.task = _PreprocessedTask(setup.task)
        like_torch.__dict__.pop("jitted_step", None)  # a cached_property: compile its own
        state = setup.init_state()
        variables = jax.device_get(setup.variables(state))
        global_views = sharding.host_batch_to_global(views, mesh)
        rows[f"avjax {impl}"] = Row.jax(like_torch.jitted_step, state, global_views, rng, impl=impl)
        if with_preprocess:
            full = sharding.host_batch_to_global(host_batch, mesh)
            rows[f"avjax {impl} +preprocess"] = Row.jax(setup.jitted_step, setup.init_state(), full, rng,
                                                        impl=impl, preprocess=True)
    return rows, variables, setup


# ---------------------------------------------------------------------------------------------
# Rows: one compiled or warmed-up step each, timed round-robin.
# ---------------------------------------------------------------------------------------------

class Row:
    """A step to time: `run()` does one step and returns the loss (a device value); `sync(x)`
    waits for it. avjax steps are compiled when the Row is made (`compile_s`); the first step of
    every row is untimed (`first_step_s`: PyTorch's warm-up)."""

    def __init__(self, run, sync, compile_s=None, **info):
        self._run, self._sync, self.info = run, sync, dict(info, compile_s=compile_s)
        self.times, self.cpu, self.losses, self.first_s = [], [], [], None

    @classmethod
    def jax(cls, jitted, state, batch, rng, **info):
        t0 = time.perf_counter()
        lowered = jitted.lower(state, batch, rng)
        compiled = lowered.compile()
        compile_s = time.perf_counter() - t0
        # A check that `conv_impl` reached the step: only "3d" leaves 3-D convolutions in it.
        info["conv3d_ops"] = len(re.findall(r"dim_numbers = \[b, 0, 1, 2, f\]", lowered.as_text()))
        if (info["conv3d_ops"] > 0) != (info.get("impl") == "3d"):
            raise RuntimeError(f"conv_impl={info.get('impl')!r}: the step has {info['conv3d_ops']} 3-D convolutions")
        box = {"state": state}

        def run():
            box["state"], metrics = compiled(box["state"], batch, rng)
            return metrics["loss"]
        return cls(run, jax.block_until_ready, compile_s, framework="avjax", **info)

    @classmethod
    def torch(cls, step, views, device, lr_table, **info):
        count = [0]

        def run():
            step.set_lrs({g: lrs[count[0]] for g, lrs in lr_table.items()})  # the official lr_scheduler.step()
            count[0] += 1
            return step(*views)

        def sync(x):
            if device == "cuda":
                torch.cuda.synchronize()
            return x
        return cls(run, sync, framework="pytorch", **info)

    def step(self, timed: bool):
        t0, c0 = time.perf_counter(), time.process_time()
        loss = self._sync(self._run())
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        if self.first_s is None:
            self.first_s = wall
        elif timed:
            self.times.append(wall)
            self.cpu.append(cpu)
        self.losses.append(float(loss))

    def result(self, batch: int) -> dict:
        med = statistics.median(self.times)
        return dict(self.info, median_s=med, min_s=min(self.times), max_s=max(self.times),
                    cpu_s=statistics.median(self.cpu), examples_per_s=batch / med,
                    first_step_s=self.first_s, losses=self.losses, times_s=self.times)


def time_rows(rows: dict[str, Row], iters: int, warmup: int) -> None:
    for name, row in rows.items():  # the first step (PyTorch warm-up), one row at a time
        row.step(timed=False)
        print(f"  {name}: first step {row.first_s:.1f} s, loss {row.losses[0]:.6f}", file=sys.stderr, flush=True)
    for i in range(warmup + iters):
        for row in rows.values():
            row.step(timed=i >= warmup)


# ---------------------------------------------------------------------------------------------
# One platform.
# ---------------------------------------------------------------------------------------------

def bench_platform(plat: str, args, config, impls) -> dict:
    device = {"cpu": "cpu", "gpu": "cuda"}[plat]
    jax_device = jax.devices(plat)[0]
    mesh = sharding.make_mesh([("data", 1), ("fsdp", 1)], devices=[jax_device])
    config = copy.deepcopy(config)
    config.batch_size = args.batch
    config.compute_dtype = {"fp32": "float32", "bf16": "bfloat16"}[args.precision]

    # The batch: host clips -> avjax's on-device preprocessing, once -> the views both sides take.
    spec = crisscross_task.batch_spec(config, train=True)
    host_batch = random_batch(spec, args.batch, np.random.default_rng(0))
    prep = jax.jit(functools.partial(crisscross_task.preprocess, train=True, config=config))
    views = {k: np.array(v) for k, v in prep(host_batch, jax.random.key(1)).items()}  # writable copies

    rows, variables = {}, None
    for i, impl in enumerate(impls):
        new, variables, setup = avjax_steps(config, mesh, impl, views, host_batch,
                                            with_preprocess=i == 0 and not args.no_preprocess_row)
        rows.update(new)

    model = build_torch_model(config)
    counts = {"avjax": avjax_param_counts(variables["params"]), "pytorch": torch_reference.param_counts(model)}
    if counts["avjax"] != counts["pytorch"]:
        raise SystemExit(f"parameter counts differ: {counts}")
    load_avjax_weights(model, variables)
    # The official scheduler sets every group's lr each iteration; here from avjax's schedules, so
    # both sides take the same steps (avjax's step reads its schedules at its own step count).
    groups = {"vid_base": "video", "vid_predictor": "video_predictor", "aud_base": "audio",
              "aud_predictor": "audio_predictor"}
    lr_table = {g: [float(setup.schedules[a](i)) for i in range(1 + args.warmup + args.iters)]
                for g, a in groups.items()}
    autocast = torch.bfloat16 if args.precision == "bf16" else None
    step = torch_reference.TrainStep(model, device, autocast, args.channels_last)
    v1, a1 = step.prepare(torch.from_numpy(views["v1"]).permute(0, 4, 1, 2, 3),
                          torch.from_numpy(views["a1"])[:, None])
    v2, a2 = step.prepare(torch.from_numpy(views["v2"]).permute(0, 4, 1, 2, 3),
                          torch.from_numpy(views["a2"])[:, None])
    name = "pytorch" + (" channels_last" if args.channels_last else "")
    rows = {name: Row.torch(step, (v1, v2, a1, a2), device, lr_table, impl=None)} | rows

    time_rows(rows, args.iters, args.warmup)
    results = []
    torch_res = rows[name].result(args.batch)
    for row_name, row in rows.items():
        r = row.result(args.batch)
        r.update(platform=plat, row=row_name, ratio_vs_pytorch=r["examples_per_s"] / torch_res["examples_per_s"],
                 loss_diff_vs_pytorch=None if r.get("preprocess") else
                 float(np.max(np.abs(np.subtract(r["losses"][:2], torch_res["losses"][:2])))))
        results.append(r)
    shapes = {"video_view_pytorch": list(v1.shape[1:]), "audio_view_pytorch": list(a1.shape[1:]),
              "video_view_avjax": list(views["v1"].shape[1:]), "audio_view_avjax": list(views["a1"].shape[1:]),
              "video_uint8_avjax_preprocess": list(host_batch["video1"].shape[1:]),
              "waveform_avjax_preprocess": list(host_batch["audio1"].shape[1:])}
    return {"platform": plat, "jax_device": str(jax_device),
            "torch_device": torch.cuda.get_device_name(0) if device == "cuda" else cpu_model(),
            "param_counts": counts, "shapes": shapes, "results": results}


def _jax_has_gpu() -> bool:
    try:
        return bool(jax.devices("gpu"))
    except RuntimeError:  # no GPU backend in this jaxlib, or none of its devices
        return False


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def print_platform(out: dict, args, threads: int) -> None:
    s = out["shapes"]
    where = f"{out['platform']} ({threads} threads)" if out["platform"] == "cpu" else out["torch_device"]
    print(f"\nCrissCross train step, B={args.batch}, {args.precision}, {where}: median of {args.iters} "
          f"after {args.warmup} warm-ups (+1 untimed first step), round-robin")
    print(f"  a clip: 2 video views {s['video_view_pytorch']} (avjax {s['video_view_avjax']}), "
          f"2 audio views {s['audio_view_pytorch']} (avjax {s['audio_view_avjax']}); "
          f"'+preprocess' takes uint8 {s['video_uint8_avjax_preprocess']} x2 and waveforms {s['waveform_avjax_preprocess']} x2")
    c = out["param_counts"]
    print("  parameters (avjax = pytorch): " + ", ".join(f"{k} {v:,}" for k, v in c["pytorch"].items()))
    print(f"  {'row':<28}{'median s':>9}{'min s':>8}{'max s':>8}{'cpu s':>8}{'clips/s':>9}"
          f"{'vs pytorch':>11}{'loss diff':>10}{'compile s':>10}{'first s':>8}")
    for r in out["results"]:
        diff = r["loss_diff_vs_pytorch"]
        diff = "-" if diff is None else f"{diff:.1e}"
        print(f"  {r['row']:<28}{r['median_s']:>9.3f}{r['min_s']:>8.3f}{r['max_s']:>8.3f}{r['cpu_s']:>8.2f}"
              f"{r['examples_per_s']:>9.2f}{r['ratio_vs_pytorch']:>10.2f}x{diff:>10}"
              f"{'-' if r['compile_s'] is None else format(r['compile_s'], '.1f'):>10}{r['first_step_s']:>8.1f}")
    print("  vs pytorch: avjax clips/s / PyTorch clips/s (above 1: avjax faster). loss diff: the largest "
          "|loss - PyTorch's loss| over the first two steps (same weights and batch; the second after "
          "one LARC + Adam update; the +preprocess row augments its own views). compile s: avjax's jit "
          "compile (a cache hit with $AVJAX_COMPILATION_CACHE); first s: the untimed first step")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4, help="clips per step (default 4)")
    parser.add_argument("--iters", type=int, default=5, help="timed steps per row")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per row after the first")
    parser.add_argument("--threads", type=int, default=None,
                        help="PyTorch threads and CPUs for XLA (default: all the process may use)")
    parser.add_argument("--device", choices=("cpu", "gpu", "all"), default="all",
                        help="all: the CPU, and the GPU when both frameworks see one")
    parser.add_argument("--conv-impl", default=DEFAULT_CONV_IMPL,
                        help=f"avjax R(2+1)D conv formulation(s), comma-separated, or 'all': {', '.join(CONV_IMPLS)}")
    parser.add_argument("--channels-last", action="store_true",
                        help="PyTorch: channels_last_3d video / channels_last audio backbones")
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32",
                        help="bf16: avjax config.compute_dtype bfloat16 (backbones in bf16), PyTorch autocast bfloat16")
    parser.add_argument("--tiny", action="store_true", help=f"the tiny config ({TINY_CONFIG}) at two blocks a stage: seconds, for tests")
    parser.add_argument("--no-preprocess-row", action="store_true",
                        help="skip the 'avjax +preprocess' row (the step with on-device augmentation)")
    parser.add_argument("--json", default=None, help="write the results to this JSON file")
    args = parser.parse_args(argv)
    impls = list(CONV_IMPLS) if args.conv_impl == "all" else [s for s in args.conv_impl.split(",") if s]
    for impl in impls:
        if impl not in CONV_IMPLS:
            parser.error(f"--conv-impl: unknown {impl!r}; expected some of {CONV_IMPLS} or 'all'")
    if args.iters < 1 or args.warmup < 0 or args.batch < 2:
        parser.error("--iters >= 1, --warmup >= 0 and --batch >= 2 (BatchNorm needs 2 clips)")

    threads = pin_threads(args.threads)
    load_start = os.getloadavg()[0]
    if threads > 1 and load_start > max(1.0, os.cpu_count() - threads):
        print(f"warning: the machine is busy (load average {load_start:.1f} with {os.cpu_count()} CPUs). "
              "Multi-threaded PyTorch spin-waits (OpenMP) while a thread waits for a CPU, and was measured "
              "up to 10x slower that way; use a quiet machine, --threads 1, or OMP_WAIT_POLICY=PASSIVE.",
              file=sys.stderr)
    gpu = args.device != "cpu" and torch.cuda.is_available() and _jax_has_gpu()
    if args.device == "gpu" and not gpu:
        raise SystemExit("--device gpu: no GPU seen by both PyTorch (torch.cuda) and JAX (jax.devices('gpu')); "
                         "install torch with CUDA and jax[cuda], or use --device cpu")
    platforms = (["cpu"] if args.device in ("cpu", "all") else []) + (["gpu"] if gpu else [])
    if args.device == "all" and not gpu:
        print("no GPU seen by both PyTorch and JAX: CPU only", file=sys.stderr)
    if gpu:
        torch.backends.cudnn.benchmark = True  # as the official training script
        torch.backends.cuda.matmul.allow_tf32 = True  # JAX's default fp32 matmul precision on GPU is TF32
        torch.backends.cudnn.allow_tf32 = True
    if os.environ.get("AVJAX_COMPILATION_CACHE"):  # as the trainer; off by default (compile s is then a cache hit)
        train.enable_compilation_cache()
    config = configs.load_config(TINY_CONFIG if args.tiny else FULL_CONFIG)
    if args.tiny:  # the paper's depth (two blocks a stage), narrower: the synthetic variants' one-block nets are CPU sizes
        config.model.video_blocks = config.model.audio_blocks = (2, 2, 2, 2)

    outs = []
    for plat in platforms:
        outs.append(bench_platform(plat, args, config, impls))
        print_platform(outs[-1], args, threads)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"benchmark": "vs_pytorch", "config": TINY_CONFIG if args.tiny else FULL_CONFIG,
                       "batch": args.batch, "iters": args.iters, "warmup": args.warmup, "threads": threads,
                       "precision": args.precision, "channels_last": args.channels_last, "conv_impls": impls,
                       "cpu": cpu_model(), "cpu_count": os.cpu_count(), "jax": jax.__version__,
                       "torch": torch.__version__, "xla_flags": os.environ.get("XLA_FLAGS", ""),
                       "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", ""),
                       "load_average_start": load_start, "load_average_end": os.getloadavg()[0],
                       "platforms": outs}, f, indent=2)
    return outs


if __name__ == "__main__":
    main()
