"""The one trainer: config -> mesh -> data -> task -> state -> loop (log, checkpoint, evaluate).

The trainer knows nothing about any method: `config.task` names `avjax.tasks.<task>`, a module of
plain functions (see DESIGN.md, "The seam"). Running again on the same workdir resumes from the
latest checkpoint, with the data iterator where it was.
"""
from __future__ import annotations

import functools
import importlib
import json
import logging
import math
import os
import signal
import sys
import time

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from tqdm import tqdm

from avjax import checkpoint as ckpt_lib
from avjax import configs, optim, sharding
from avjax.data import pipeline


class NonFiniteLossError(RuntimeError):
    pass


def enable_compilation_cache(path: str | None = None) -> None:
    """Persist XLA executables across processes (resumes, evals, tests): `$AVJAX_COMPILATION_CACHE`,
    default ~/.cache/avjax/xla; "off" disables it."""
    path = path or os.environ.get("AVJAX_COMPILATION_CACHE", os.path.expanduser("~/.cache/avjax/xla"))
    if path == "off":
        return
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)


DETERMINISTIC_OPS_FLAG = "--xla_gpu_deterministic_ops=true"


def with_deterministic_ops(xla_flags: str) -> str:
    """XLA_FLAGS with deterministic GPU ops on (any earlier setting of that flag replaced)."""
    kept = [f for f in xla_flags.split() if not f.startswith("--xla_gpu_deterministic_ops")]
    return " ".join(kept + [DETERMINISTIC_OPS_FLAG])


def enable_deterministic_ops(config, environ=None) -> bool:
    """`config.deterministic`: add DETERMINISTIC_OPS_FLAG to XLA_FLAGS (deterministic GPU kernels:
    no atomics in reductions and scatters; reproducible, slower). XLA reads XLA_FLAGS once, when
    the backend starts, so this runs before the first device use (`train` calls it first)."""
    if not config.get("deterministic", False):
        return False
    environ = os.environ if environ is None else environ
    before = environ.get("XLA_FLAGS", "")
    environ["XLA_FLAGS"] = with_deterministic_ops(before)
    from jax._src import xla_bridge
    if DETERMINISTIC_OPS_FLAG not in before.split() and xla_bridge.backends_are_initialized():
        if jax.default_backend() == "gpu":
            raise ValueError("config.deterministic=True: JAX's GPU backend had already started, so XLA "
                             f"will not read it; set XLA_FLAGS={DETERMINISTIC_OPS_FLAG} before the first "
                             "JAX call (or use `avjax train` / launch/gpu.sh --deterministic)")
        logging.warning("config.deterministic: the %s backend had already started; the flag only "
                        "matters on GPUs", jax.default_backend())
    print(f"config.deterministic: XLA_FLAGS={environ['XLA_FLAGS']}", file=sys.stderr, flush=True)
    return True


def get_task(config):
    try:
        return importlib.import_module(f"avjax.tasks.{config.task}")
    except ModuleNotFoundError as e:
        raise ValueError(f"config.task={config.task!r}: no module avjax.tasks.{config.task}") from e


# ---------------------------------------------------------------------------------------------
# State.
# ---------------------------------------------------------------------------------------------

def dummy_batch(spec: dict, batch_size: int) -> dict:
    return {k: np.zeros((batch_size,) + shape, dtype) for k, (shape, dtype) in spec.items()}


class Setup:
    """Everything the loop and the evaluators need, built once from the config."""

    def __init__(self, config, mesh):
        self.config, self.mesh = config, mesh
        self.task = get_task(config)
        self.model = self.task.build_model(config)
        dtype = configs.compute_dtype(config)  # validates the field
        if jnp.dtype(getattr(self.model, "dtype", None) or jnp.float32) != dtype:  # a task that ignores it
            raise ValueError(f"config.compute_dtype={dtype.name!r}: the {config.task} task's model does not "
                             "compute in it (its build_model does not pass config.compute_dtype on)")
        self.batch_size = sharding.per_process_batch_size(config.batch_size, mesh)
        rng = jax.random.key(config.seed)
        self.init_rng, self.step_rng = jax.random.split(rng)

        # Shapes first (no allocation), then shardings from the logical axis names.
        example = dummy_batch(self.task.batch_spec(config, train=True), 2)
        boxed = jax.eval_shape(self._init_boxed_variables, example, self.init_rng)
        params = nn.unbox(boxed["params"])
        self.tx, self.schedules = optim.make_optimizer(config.optim, config.total_steps, params)
        abstract_state = jax.eval_shape(lambda v: self._state_from_variables(nn.unbox(v)), boxed)
        self.state_sharding = sharding.state_shardings(abstract_state, boxed["params"], mesh,
                                                       config.sharding_rules, config.fsdp_min_size)
        self.abstract_state = ckpt_lib.abstract_with_shardings(abstract_state, self.state_sharding)
        self.batch_sharding = sharding.batch_sharding(mesh)
        self.repl = sharding.replicated(mesh)

    def _init_boxed_variables(self, example, rng):
        batch = self.task.preprocess(example, rng, True, config=self.config)
        return self.task.init_variables(self.model, batch, rng, config=self.config)

    def _state_from_variables(self, variables):
        params = variables["params"]
        model_state = {k: v for k, v in variables.items() if k != "params"}
        opt_state = self.tx.init(params)
        return {"step": jnp.zeros([], jnp.int32), "params": params, "model_state": model_state,
                "opt_state": opt_state}

    def init_state(self):
        """Fresh state, created directly in its sharded layout. A task that starts from pretrained
        weights (finetuning) exposes `load_pretrained(state, shardings, *, config) -> state`,
        which replaces those parameters here (a resumed run restores its own checkpoint instead)."""
        lowered = jax.jit(self.fresh_state, out_shardings=self.state_sharding).lower(self.init_rng)
        # On the CPU, LLVM's -O2 gives the same initial weights bit for bit as the default -O3 and
        # compiles the init program 2-3x faster (tiny CrissCross 14.5 s -> 4.9 s; at -O0 some
        # weights move by an ulp). It runs once, so its code's speed does not matter.
        cpu = self.mesh.devices.flat[0].platform == "cpu"
        options = {"xla_backend_optimization_level": 2} if cpu else None
        state = lowered.compile(compiler_options=options)(self.init_rng)
        load = getattr(self.task, "load_pretrained", None)
        return load(state, self.state_sharding, config=self.config) if load else state

    def fresh_state(self, rng):
        """The initial state from `rng` (traceable; `init_state` compiles it)."""
        example = dummy_batch(self.task.batch_spec(self.config, train=True), 2)
        variables = nn.unbox(self._init_boxed_variables(example, rng))
        return self._state_from_variables(variables)

    def variables(self, state) -> dict:
        return {"params": state["params"], **state["model_state"]}

    # -- the step ------------------------------------------------------------------------------
    def train_step(self, state, batch, rng):
        with jax.sharding.use_abstract_mesh(self.mesh.abstract_mesh):  # for models.constrain_batch
            return self._train_step(state, batch, rng)

    def _train_step(self, state, batch, rng):
        rng = jax.random.fold_in(rng, state["step"])
        prep_rng, loss_rng = jax.random.split(rng)
        batch = self.task.preprocess(batch, prep_rng, True, config=self.config)
        loss_fn = functools.partial(self.task.loss_fn, model=self.model, config=self.config)
        (loss, (metrics, model_state)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
            state["params"], state["model_state"], batch, loss_rng)
        updates, opt_state = self.tx.update(grads, state["opt_state"], state["params"])
        params = optax.apply_updates(state["params"], updates)
        metrics = dict(metrics, l2_grads=optim.global_norm(grads), l2_params=optim.global_norm(params),
                       l2_updates=optim.global_norm(updates))
        for name, schedule in self.schedules.items():
            metrics[f"lr/{name}"] = schedule(state["step"])
        new_state = {"step": state["step"] + 1, "params": params, "model_state": model_state,
                     "opt_state": opt_state}
        return new_state, metrics

    def embed(self, variables, batch):
        """Eval batch -> the task's embeddings, with label, index and mask carried along."""
        inputs = self.task.preprocess(batch, jax.random.key(0), False, config=self.config)
        with jax.sharding.use_abstract_mesh(self.mesh.abstract_mesh):  # for models.constrain_batch
            out = self.task.embed(variables, inputs, model=self.model)
        return dict(out, label=batch["label"], index=batch["index"], mask=batch["mask"])

    @functools.cached_property
    def jitted_embed(self):
        # Built once per Setup, so every split and every evaluation reuses one compiled function.
        return jax.jit(self.embed, in_shardings=(None, self.batch_sharding), out_shardings=self.repl)

    @functools.cached_property
    def jitted_step(self):
        return jax.jit(self.train_step, in_shardings=(self.state_sharding, self.batch_sharding, self.repl),
                       out_shardings=(self.state_sharding, self.repl), donate_argnums=(0,))


# ---------------------------------------------------------------------------------------------
# Logging.
# ---------------------------------------------------------------------------------------------

class MetricWriter:
    """TensorBoard event files + WORKDIR/metrics.jsonl (one JSON object per logged step)."""

    def __init__(self, workdir: str, resume_step: int):
        self.enabled = jax.process_index() == 0
        if not self.enabled:
            return
        from tensorboardX import SummaryWriter
        self.path = os.path.join(workdir, "metrics.jsonl")
        # A killed run may have logged steps past its last checkpoint: those are replayed now.
        if os.path.exists(self.path):
            with open(self.path) as f:
                kept = [line for line in f if line.strip() and json.loads(line).get("step", 0) <= resume_step]
            with open(self.path, "w") as f:
                f.writelines(kept)
        self.tb = SummaryWriter(os.path.join(workdir, "tensorboard"), purge_step=resume_step + 1)

    def write(self, step: int, metrics: dict):
        if not self.enabled:
            return
        for k, v in metrics.items():
            self.tb.add_scalar(k, v, step)
        with open(self.path, "a") as f:
            f.write(json.dumps({"step": step, **metrics}) + "\n")

    def close(self):
        if self.enabled:
            self.tb.flush()
            self.tb.close()


def _to_float(tree) -> dict:
    return {k: float(v) for k, v in jax.device_get(tree).items()}


# ---------------------------------------------------------------------------------------------
# The loop.
# ---------------------------------------------------------------------------------------------

def train(config: ml_collections.ConfigDict, workdir: str, *, evaluate_at_end: bool = True) -> dict:
    """Train (or resume) in `workdir`; returns the final metrics (and evaluation results)."""
    enable_deterministic_ops(config)  # before the backend starts (make_mesh is the first device use)
    os.makedirs(workdir, exist_ok=True)
    mesh = sharding.make_mesh(config.mesh)
    setup = Setup(config, mesh)
    config_json = json.loads(config.to_json_best_effort())

    # Data: this process's slice of every global batch.
    data = pipeline.train_dataset(config, jax.process_index(), jax.process_count(), setup.batch_size)
    data_iter = iter(data)

    with ckpt_lib.Checkpointer(os.path.join(workdir, "checkpoints"), keep=config.keep_checkpoints,
                               save_every=config.checkpoint_every) as ckpt:
        start = ckpt.latest_step()
        if start is None:
            state, start = setup.init_state(), 0
        else:
            state = ckpt.restore(setup.abstract_state, start, data_iterator=data_iter)
        writer = MetricWriter(workdir, start)

        step_fn = setup.jitted_step
        last = {}
        t0, examples = time.time(), 0
        bar = tqdm(total=config.total_steps, initial=start, desc="train", dynamic_ncols=True,
                   disable=jax.process_index() != 0)
        profile = tuple(config.profile_steps or ())
        for step in range(start + 1, config.total_steps + 1):
            if profile and step == profile[0]:
                jax.profiler.start_trace(os.path.join(workdir, "profile"))
            batch = sharding.host_batch_to_global(next(data_iter), mesh)
            if step == start + 1:
                step_fn = sharding.compiled_together(step_fn, state, batch, setup.step_rng, name="train_step")
            state, metrics = step_fn(state, batch, setup.step_rng)
            examples += config.batch_size
            if profile and step == profile[-1]:
                jax.block_until_ready(state)
                jax.profiler.stop_trace()

            save = ckpt.should_save(step) or step == config.total_steps
            if step % config.log_every == 0 or save or step == config.total_steps:
                last = _to_float(metrics)
                # Gradient and parameter norms too: a NaN input can leave the compiled loss finite
                # (on the CPU the fused program turned NaN activations into zeros) while its
                # gradients, then the parameters for good, are NaN.
                if not all(math.isfinite(last[k]) for k in ("loss", "l2_grads", "l2_params")):
                    good = ckpt.latest_step()
                    where = (f"The last good checkpoint is step {good} in {ckpt.directory}." if good is not None
                             else "No checkpoint was written.")
                    raise NonFiniteLossError(
                        f"step {step}: loss {last['loss']}, gradient norm {last['l2_grads']}, parameter "
                        f"norm {last['l2_params']}: not finite; stopped without saving. {where} Lower the "
                        "learning rate or check the input data.")
                elapsed = time.time() - t0
                last["examples_per_s"] = examples / max(elapsed, 1e-9)
                # Unreadable records replaced so far by this process's pipeline (skipped, not lost silently).
                last["bad_records"] = pipeline.BAD_RECORDS["total"]
                t0, examples = time.time(), 0
                writer.write(step, last)
                bar.set_postfix(loss=f"{last['loss']:.4f}", ex_s=f"{last['examples_per_s']:.1f}")
            bar.update(1)
            if save:
                ckpt.save(step, state, data_iter, config_json, force=step == config.total_steps)
                _maybe_fault(config, step, ckpt)
            if ckpt.reached_preemption(step):
                ckpt.save(step, state, data_iter, config_json, force=True)
                ckpt.wait()
                print(f"preempted at step {step}: checkpoint saved, exiting")
                break
            if config.eval_every and step % config.eval_every == 0 and step != config.total_steps:
                writer.write(step, evaluate_state(setup, state))
        bar.close()

        results = {"step": int(jax.device_get(state["step"])), **last}
        if evaluate_at_end and results["step"] == config.total_steps:
            evals = evaluate_state(setup, state)
            writer.write(results["step"], evals)
            results.update(evals)
        writer.close()
    return results


def _maybe_fault(config, step: int, ckpt) -> None:
    """Fault injection for the resume test: SIGKILL this process right after a committed save."""
    kill_at = config.get("debug_kill_at_step", 0)
    if kill_at and step == kill_at:
        ckpt.wait()
        os.kill(os.getpid(), signal.SIGKILL)


def evaluate_state(setup: Setup, state) -> dict[str, float]:
    from avjax import evaluate
    return evaluate.run_evaluators(setup, setup.variables(state))
