"""Evaluation: frozen-feature extraction on every process, then the task's evaluators.

`avjax eval --workdir DIR` restores the latest checkpoint with the config saved beside it and
writes `DIR/eval.json`.
"""
from __future__ import annotations

import json
import os

import jax
import ml_collections
import numpy as np
from jax.experimental import multihost_utils

from avjax import checkpoint as ckpt_lib
from avjax import sharding
from avjax.data import pipeline

EVAL_SPLITS = ("probe", "eval")


def gather_eval_batches(config, split: str, mesh, fn, keys=None) -> dict[str, np.ndarray]:
    """`fn(global_batch, i) -> {..., "mask"}` over the eval batches of `split` (config.eval's
    clips per video), gathered on every process, padding removed. `keys`: only these fields of
    each host batch go to the devices (default: all)."""
    per_process = config.eval_batch_size // jax.process_count()
    chunks = []
    for i, batch in enumerate(pipeline.eval_batches(config, split, None, per_process, jax.process_index(),
                                                    jax.process_count())):
        if keys is not None:
            batch = {k: batch[k] for k in keys}
        out = fn(sharding.host_batch_to_global(batch, mesh), i)
        chunks.append(jax.device_get(multihost_utils.process_allgather(out, tiled=True)))
    if not chunks:
        raise ValueError(f"split {split!r} of config.data.path={config.data.get('path', '')!r} is empty")
    feats = {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}
    keep = feats.pop("mask") > 0
    return {k: v[keep] for k, v in feats.items()}


def extract_features(setup, variables, split: str) -> dict[str, np.ndarray]:
    """Embeddings of every clip of `split` (padding removed), gathered on every process."""
    compiled = {}

    def embed(batch, i):
        if not compiled:  # every process compiles, then they meet (sharding.compiled_together)
            compiled["fn"] = sharding.compiled_together(setup.jitted_embed, variables, batch, name=f"embed_{split}")
        return compiled["fn"](variables, batch)

    return gather_eval_batches(setup.config, split, setup.mesh, embed)


def all_features(setup, variables) -> dict[str, dict[str, np.ndarray]]:
    """Features of each evaluation split: `config.eval.splits` (default EVAL_SPLITS)."""
    splits = tuple(setup.config.eval.get("splits", None) or EVAL_SPLITS)
    return {split: extract_features(setup, variables, split) for split in splits}


def evaluate_features(setup, features, names=None) -> dict[str, float]:
    names = tuple(names or setup.config.eval.evaluators)
    available = setup.task.evaluators(setup.config)
    unknown = [n for n in names if n not in available]
    if unknown:
        raise ValueError(f"config.eval.evaluators: {unknown} not supported by task "
                         f"{setup.config.task!r}; choose from {sorted(available)}")
    metrics = {}
    for name in names:
        metrics.update(available[name](features))
    return metrics


def run_evaluators(setup, variables, names=None) -> dict[str, float]:
    return evaluate_features(setup, all_features(setup, variables), names)


def evaluate_workdir(workdir: str, overrides: list[str] | None = None, random_init: bool = False) -> dict[str, float]:
    """Restore the latest checkpoint of `workdir` (and its config) and evaluate it -> WORKDIR/eval.json.

    `random_init`: evaluate a fresh initialisation with the run's config instead (the baseline a
    trained model should beat) -> WORKDIR/eval_random_init.json. A task that has
    `save_outputs(config, features, out_dir)` (localization: heatmap overlays) writes them into
    the workdir (random_init: WORKDIR/random_init/)."""
    from avjax import configs, train
    directory = os.path.join(workdir, "checkpoints")
    with ckpt_lib.Checkpointer(directory) as ckpt:
        step = ckpt.latest_step()
        if step is None:
            raise FileNotFoundError(f"--workdir {workdir}: no checkpoint in {directory}; run `avjax train` first")
        config = ml_collections.ConfigDict(ckpt.restore_config(step))
        configs.apply_overrides(config, overrides or [])
        mesh = sharding.make_mesh(config.mesh)
        setup = train.Setup(config, mesh)
        state = setup.init_state() if random_init else ckpt.restore(setup.abstract_state, step)
    features = all_features(setup, setup.variables(state))
    metrics = {"step": 0 if random_init else step, **evaluate_features(setup, features)}
    if jax.process_index() == 0:
        out_dir = os.path.join(workdir, "random_init") if random_init else workdir
        save = getattr(setup.task, "save_outputs", None)
        if save is not None:
            save(config, features, out_dir)
        with open(os.path.join(workdir, "eval_random_init.json" if random_init else "eval.json"), "w") as f:
            json.dump(metrics, f, indent=2)
    return metrics
