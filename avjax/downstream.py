"""Downstream evaluations of pretrained CrissCross encoders (methods/crisscross.md, section 6).

    avjax downstream --config configs/downstream/esc50.py --workdir runs/esc50 \\
        --config.init_from=runs/crisscross_k400 --config.data.path=/data/shards/esc50 [--config.x=y ...]

Two kinds of config:
- `config.task` set (finetune_video: configs/downstream/ucf101.py, hmdb51.py): a training run; the
  trainer finetunes from `config.init_from` (the same as `avjax train`), evaluating top-1.
- `config.downstream = "audio_linear"` (configs/downstream/esc50.py, dcase.py): linear classifiers
  on frozen audio features. The audio backbone (params + BatchNorm statistics) and its log-mel
  front end come from the latest checkpoint of `config.init_from`; per fold part, training features
  (`eval.train_clips_per_video` uniformly spaced clips per recording, strongly augmented) and test
  features (`eval.test_clips_per_video` clips, plain) are extracted once; then each held-out fold
  is classified from the others' features ("svm": LinearSVC; "linear": a linear layer fitted with
  Adam) with the clip scores averaged per recording. Writes WORKDIR/downstream.json:
  {"folds": {fold: accuracy}, "mean": ..., ...}.

Features (`conv5_features`): the conv5x map [B, F', T', C] of the audio backbone (eval-mode BN),
max-pooled with a (1, w) window and stride (1, s) along time, laid out as PyTorch's [C, F', T''],
L2-normalised over time ("time", the reference's quirk) or over the flattened vector ("flat"), then
flattened: 512 x 3 x 3 = 4608-d for 2-s clips of 80-bin log-mel, 1536-d for 1-s clips.
"""
from __future__ import annotations

import copy
import dataclasses
import json
import logging
import os
import time
import zlib

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from avjax import audio as audio_lib
from avjax import checkpoint as ckpt_lib
from avjax import configs
from avjax import evaluate, sharding
from avjax.evaluators import classification
from avjax.models import max_pool
from avjax.models.resnet import ResNet18Audio

log = logging.getLogger("avjax.downstream")

BACKBONE = "audio_backbone"  # the pretraining state's audio backbone (avjax.tasks.crisscross)
NORMS = ("time", "flat", "none")


# ---------------------------------------------------------------------------------------------
# Features.
# ---------------------------------------------------------------------------------------------

def conv5_features(fmap: jax.Array, window: int = 3, stride: int = 2, norm: str = "time") -> jax.Array:
    """conv5x map [B, F', T', C] -> [B, C * F' * T''] float32 (see the module docstring)."""
    if norm not in NORMS:
        raise ValueError(f"config.features.norm={norm!r}: use one of {NORMS}")
    if fmap.shape[2] < window:
        raise ValueError(f"the conv5x map has {fmap.shape[2]} time steps, fewer than the pooling window "
                         f"{window} (config.features.pool_window): use longer clips (config.audio.seconds)")
    x = max_pool(fmap.astype(jnp.float32), (1, window), (1, stride), ((0, 0), (0, 0)))
    x = jnp.transpose(x, (0, 3, 1, 2))  # [B, C, F', T'']
    if norm == "time":
        x = x / jnp.maximum(jnp.linalg.norm(x, axis=-1, keepdims=True), 1e-12)
    x = x.reshape(x.shape[0], -1)
    if norm == "flat":
        x = x / jnp.maximum(jnp.linalg.norm(x, axis=-1, keepdims=True), 1e-12)
    return x


@dataclasses.dataclass
class AudioEncoder:
    """The pretrained audio backbone: module, variables (replicated), front end, provenance."""
    model: ResNet18Audio
    variables: dict
    front_end: audio_lib.AudioAugConfig
    sample_rate: int
    workdir: str
    step: int


def load_audio_encoder(config, mesh) -> AudioEncoder:
    """The audio backbone of `config.init_from`'s latest checkpoint, replicated over `mesh`."""
    init_from = config.get("init_from", "")
    if not init_from:
        raise ValueError("config.init_from is empty: set it to the workdir of a CrissCross pretraining run "
                         "(--config.init_from=runs/crisscross_k400)")
    saved, _ = ckpt_lib.saved_config(init_from, field="config.init_from")
    pre = ml_collections.ConfigDict(saved)
    m = pre.model
    model = ResNet18Audio(widths=tuple(m.audio_widths), blocks=tuple(m.audio_blocks),
                          dtype=configs.compute_dtype(pre))
    a = pre.audio
    front_end = dataclasses.replace(audio_lib.AudioAugConfig(), sample_rate=a.sample_rate, n_fft=a.n_fft,
                                    hop_length=a.hop_length, n_mels=a.n_mels,
                                    **dict(config.audio.get("aug", {})))
    import flax.linen as nn
    abstract = jax.eval_shape(lambda: nn.unbox(model.init(jax.random.key(0), jnp.zeros((1, a.n_mels, 64)), False)))
    repl = sharding.replicated(mesh)
    sds = lambda tree: jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=repl), tree)
    target = {"params": {BACKBONE: sds(abstract["params"])},
              "model_state": {"batch_stats": {BACKBONE: sds(abstract["batch_stats"])}}}
    restored, step = ckpt_lib.restore_partial(init_from, target, field="config.init_from")
    variables = {"params": restored["params"][BACKBONE],
                 "batch_stats": restored["model_state"]["batch_stats"][BACKBONE]}
    return AudioEncoder(model, variables, front_end, int(a.sample_rate), init_from, step)


def _feature_fn(encoder: AudioEncoder, config, mesh, augment: bool):
    f = config.features

    def fn(variables, batch, key):
        wave = batch["audio"]
        spec = (audio_lib.audio_augment(wave, key, encoder.front_end) if augment
                else audio_lib.audio_eval(wave, encoder.front_end))
        fmap = encoder.model.apply(variables, spec, False, pool=None)
        feat = conv5_features(fmap, f.pool_window, f.pool_stride, f.norm)
        return {"feat": feat, "label": batch["label"], "index": batch["index"], "mask": batch["mask"]}

    return jax.jit(fn, in_shardings=(None, sharding.batch_sharding(mesh), sharding.replicated(mesh)),
                   out_shardings=sharding.replicated(mesh))


def extract(encoder: AudioEncoder, config, mesh, split: str, clips_per_video: int, augment: bool,
            fn=None) -> dict[str, np.ndarray]:
    """{"feat": [N * K, D] float32, "label": [N * K], "index": [N * K]} for every clip of `split`
    (a split expression: a fold part, an alias, ...), K = clips_per_video windows each."""
    cfg = copy.deepcopy(config)
    cfg.eval.clips_per_video = int(clips_per_video)
    cfg.audio.sample_rate = encoder.sample_rate
    fn = fn or _feature_fn(encoder, config, mesh, augment)
    key = jax.random.fold_in(jax.random.key(config.seed), zlib.crc32(f"{split}:{augment}".encode()))

    def features(batch, i):
        return fn(encoder.variables, batch, jax.random.fold_in(key, i))

    return evaluate.gather_eval_batches(cfg, split, mesh, features, keys=("audio", "label", "index", "mask"))


def extract_all(config, encoder: AudioEncoder | None = None, mesh=None) -> dict[str, dict[str, dict]]:
    """{part: {"train": features, "test": features}} for every fold part (and the test split)."""
    mesh = mesh or sharding.make_mesh(config.mesh)
    encoder = encoder or load_audio_encoder(config, mesh)
    ev = config.eval
    fns = {aug: _feature_fn(encoder, config, mesh, aug) for aug in (False, True)}
    out = {}
    for part in tuple(ev.folds):
        out[part] = {"train": extract(encoder, config, mesh, part, ev.train_clips_per_video, ev.train_augment,
                                      fns[bool(ev.train_augment)])}
        if not ev.test_split:
            out[part]["test"] = extract(encoder, config, mesh, part, ev.test_clips_per_video, False, fns[False])
    if ev.test_split:
        out[ev.test_split] = {"test": extract(encoder, config, mesh, ev.test_split, ev.test_clips_per_video,
                                              False, fns[False])}
    return out


# ---------------------------------------------------------------------------------------------
# Classifiers, per fold.
# ---------------------------------------------------------------------------------------------

def _splits(config, features) -> list[tuple[str, list[str], str]]:
    """[(name, training parts, test part)]: leave-one-fold-out, or all folds -> eval.test_split."""
    folds = list(config.eval.folds)
    if config.eval.test_split:
        return [(config.eval.test_split, folds, config.eval.test_split)]
    if len(folds) < 2:
        raise ValueError(f"config.eval.folds={tuple(folds)}: cross-validation needs two folds or more "
                         "(or set config.eval.test_split)")
    return [(f, [g for g in folds if g != f], f) for f in folds]


def _one(config, train, test, C=None) -> dict[str, float]:
    c = config.classifier
    num_classes = int(config.data.num_classes)
    if c.kind == "svm":
        scores, info = classification.linear_svm(train["feat"], train["label"], test["feat"],
                                                 C=float(C if C is not None else c.C), num_classes=num_classes,
                                                 max_iter=int(c.max_iter))
        return {"top1": classification.multiclip_top1(scores, test["index"], test["label"]),
                "converged": info["converged"]}
    if c.kind == "linear":
        return classification.softmax_classifier(
            train["feat"], train["label"], test["feat"], test["label"], test["index"], num_classes,
            epochs=int(c.epochs), batch_size=int(c.batch_size), lr=float(c.lr),
            weight_decay=float(c.weight_decay), dropout=float(c.dropout), seed=int(config.seed))
    raise ValueError(f"config.classifier.kind={c.kind!r}: use 'svm' or 'linear'")


def classify(config, features: dict[str, dict[str, dict]]) -> dict:
    """Accuracy per fold and the mean (and, for "linear", the best-epoch numbers; for a C sweep,
    the mean per C and the best C, which is chosen on the test folds as the reference does)."""
    def cat(parts):
        return {k: np.concatenate([features[p]["train"][k] for p in parts]) for k in ("feat", "label", "index")}

    splits = _splits(config, features)
    Cs = [None]
    if config.classifier.kind == "svm" and tuple(config.classifier.C_sweep):
        Cs = [float(C) for C in config.classifier.C_sweep]
    runs = {}
    for C in Cs:
        per_fold = {name: _one(config, cat(train_parts), features[test_part]["test"], C)
                    for name, train_parts, test_part in splits}
        runs[C] = per_fold
    result: dict = {"classifier": config.classifier.kind}

    def summary(per_fold, key="top1"):
        folds = {name: float(r[key]) for name, r in per_fold.items()}
        return folds, float(np.mean(list(folds.values())))

    if Cs == [None]:
        per_fold = runs[None]
        result["folds"], result["mean"] = summary(per_fold)
        if config.classifier.kind == "svm":
            result["C"] = float(config.classifier.C)
            result["converged"] = all(r["converged"] for r in per_fold.values())
        else:
            result["folds_best_epoch"], result["mean_best_epoch"] = summary(per_fold, "top1_best_epoch")
    else:
        result["sweep"] = {}
        for C, per_fold in runs.items():
            folds, mean = summary(per_fold)
            result["sweep"][f"{C:g}"] = {"folds": folds, "mean": mean}
        best = max(runs, key=lambda C: result["sweep"][f"{C:g}"]["mean"])
        result["C"] = best  # selected on the test folds (the reference's protocol)
        result["folds"], result["mean"] = result["sweep"][f"{best:g}"]["folds"], result["sweep"][f"{best:g}"]["mean"]
    return result


def audio_linear_eval(config, workdir: str | None = None) -> dict:
    """Extract the features, fit the classifiers per fold; write WORKDIR/downstream.json."""
    t0 = time.time()
    mesh = sharding.make_mesh(config.mesh)
    encoder = load_audio_encoder(config, mesh)
    features = extract_all(config, encoder, mesh)
    t1 = time.time()
    result = classify(config, features)
    any_part = next(iter(features.values()))
    some = any_part.get("train") or any_part["test"]
    result.update(init_from=encoder.workdir, step=encoder.step, feature_dim=int(some["feat"].shape[1]),
                  num_train_features={p: int(len(f["train"]["label"])) for p, f in features.items() if "train" in f},
                  extract_seconds=round(t1 - t0, 1), classify_seconds=round(time.time() - t1, 1))
    if workdir and jax.process_index() == 0:
        os.makedirs(workdir, exist_ok=True)
        with open(os.path.join(workdir, "downstream.json"), "w") as f:
            json.dump(result, f, indent=2)
    return result


# ---------------------------------------------------------------------------------------------
# Entry point.
# ---------------------------------------------------------------------------------------------

def run(config, workdir: str) -> dict:
    """A finetuning config (config.task) trains; an "audio_linear" config evaluates frozen features."""
    if config.get("task"):
        from avjax import train
        result = train.train(config, workdir)
        result.update(best_evaluation(workdir))
        return result
    if config.get("downstream") == "audio_linear":
        return audio_linear_eval(config, workdir)
    raise ValueError("the config is not a downstream evaluation: it sets neither `task` (finetuning) nor "
                     "downstream='audio_linear' (see configs/downstream/)")


def best_evaluation(workdir: str, metric: str = "top1") -> dict:
    """The best `metric` over the run's evaluations (metrics.jsonl) and its step: what the reference
    reports for UCF101 / HMDB51 (the best epoch on the test split, i.e. selected on the test data)."""
    path = os.path.join(workdir, "metrics.jsonl")
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    rows = [r for r in rows if metric in r]
    if not rows:
        return {}
    best = max(rows, key=lambda r: r[metric])
    return {f"{metric}_best_epoch": best[metric], f"{metric}_best_step": best["step"]}
