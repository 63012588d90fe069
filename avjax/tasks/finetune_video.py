"""Supervised finetuning of a pretrained video backbone: UCF101 / HMDB51 action recognition.

The CrissCross downstream protocol (`evaluate/video/video_fullft.py`; methods/crisscross.md,
section 6): the R(2+1)D-18 video backbone with its pooling swapped to a global MAX pool, dropout
(0 unless the recipe sets it), then a linear layer 512 -> num_classes (orthogonal weights, bias 0).
The backbone starts from a pretraining run (`config.init_from` = its workdir: only the video
backbone's parameters and BatchNorm statistics are restored) and everything is trained
(full finetuning) with cross-entropy, SGD + momentum and a multistep schedule.

Training: one random clip per video and step (`config.data.views = 1`), the strong augmentation of
pretraining without blur. Test: `config.eval.clips_per_video` (10) uniformly spaced clips per video,
centre crop, softmax averaged per video -> top-1 (`top1`; `top1_clip` is the clip-level accuracy).

The task seam (DESIGN.md): build_model, batch_spec, init_variables, preprocess, loss_fn, embed,
evaluators, and `load_pretrained` (called by `train.Setup.init_state` on a fresh start).
"""
from __future__ import annotations

import dataclasses
import logging
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from avjax import checkpoint as ckpt_lib
from avjax import configs
from avjax import video as video_lib
from avjax.evaluators import classification
from avjax.models.r2plus1d import R2Plus1D

log = logging.getLogger("avjax.finetune")

# The pretraining state's subtrees that hold the video backbone (avjax.tasks.crisscross).
BACKBONE = "video_backbone"


class VideoClassifier(nn.Module):
    """R(2+1)D backbone -> global pool -> dropout -> linear. video [B, T, H, W, 3] -> logits [B, C]."""
    num_classes: int
    widths: tuple[int, ...] = (64, 128, 256, 512)
    blocks: tuple[int, ...] = (2, 2, 2, 2)
    pool: str = "max"
    dropout: float = 0.0
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, video, train: bool):
        feat = R2Plus1D(widths=self.widths, blocks=self.blocks, stem_width=self.widths[0], dtype=self.dtype,
                        name=BACKBONE)(video, train, pool=self.pool)
        feat = nn.Dropout(self.dropout, deterministic=not train)(feat)
        init = nn.with_logical_partitioning(nn.initializers.orthogonal(), ("in", "out"))
        return nn.Dense(self.num_classes, kernel_init=init, bias_init=nn.initializers.zeros,
                        param_dtype=jnp.float32, name="head")(feat.astype(jnp.float32))


def build_model(config) -> VideoClassifier:
    m = config.model
    return VideoClassifier(num_classes=config.data.num_classes, widths=tuple(m.video_widths),
                           blocks=tuple(m.video_blocks), pool=m.pool, dropout=m.dropout,
                           dtype=configs.compute_dtype(config))


# ---------------------------------------------------------------------------------------------
# Data contract and on-device preprocessing.
# ---------------------------------------------------------------------------------------------

def batch_spec(config, train: bool = True) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Per-example shapes and dtypes the host pipeline delivers (one view per clip)."""
    v = (config.video.num_frames, config.video.crop_size, config.video.crop_size, 3)
    if train:
        return {"video": (v, np.uint8), "label": ((), np.int32)}
    return {"video": (v, np.uint8), "label": ((), np.int32), "index": ((), np.int32),
            "mask": ((), np.float32)}


def _video_aug(config) -> video_lib.VideoAugConfig:
    return dataclasses.replace(video_lib.VideoAugConfig(), **dict(config.video.aug))


def preprocess(batch: dict, rng: jax.Array, train: bool, *, config) -> dict:
    """uint8 video -> (augmented) ImageNet-normalised float32."""
    if not train:
        return {"video": video_lib.video_eval(batch["video"])}
    return {"video": video_lib.video_augment(batch["video"], rng, _video_aug(config)), "label": batch["label"]}


def init_variables(model: VideoClassifier, batch: dict, rng: jax.Array, *, config) -> dict:
    """{"params", "batch_stats"}; BatchNorm starts at mean 0 / var 1 (train=False, as crisscross)."""
    return model.init({"params": rng, "dropout": rng}, batch["video"], train=False)


def load_pretrained(state: dict, shardings: dict, *, config) -> dict:
    """Replace the video backbone's params and batch stats by those of `config.init_from`'s latest
    checkpoint (a CrissCross pretraining workdir). `init_from = "none"`: keep the random init."""
    init_from = config.get("init_from", "")
    if init_from == "none":
        log.warning("config.init_from='none': finetuning from a random initialisation")
        return state
    if not init_from:
        raise ValueError("config.init_from is empty: set it to the workdir of a CrissCross pretraining "
                         "run (--config.init_from=runs/crisscross_k400), or 'none' to train from scratch")
    ckpt_lib.latest_in_workdir(init_from, field="config.init_from")  # a clear error before any work
    paths = (("params", BACKBONE), ("model_state", "batch_stats", BACKBONE))

    def sub(tree, path):
        for p in path:
            tree = tree[p]
        return tree

    target: dict = {}
    for path in paths:
        abstract = ckpt_lib.abstract_with_shardings(sub(state, path), sub(shardings, path))
        node = target
        for p in path[:-1]:
            node = node.setdefault(p, {})
        node[path[-1]] = abstract
    restored, step = ckpt_lib.restore_partial(init_from, target, field="config.init_from")
    state = dict(state, params=dict(state["params"]), model_state=dict(state["model_state"]))
    state["params"][BACKBONE] = restored["params"][BACKBONE]
    state["model_state"]["batch_stats"] = dict(state["model_state"]["batch_stats"])
    state["model_state"]["batch_stats"][BACKBONE] = restored["model_state"]["batch_stats"][BACKBONE]
    log.info("video backbone initialised from %s (step %d)", init_from, step)
    return state


# ---------------------------------------------------------------------------------------------
# Loss.
# ---------------------------------------------------------------------------------------------

def loss_fn(params, model_state, batch, rng, *, model: VideoClassifier, config):
    """Pure: (cross-entropy, ({loss, accuracy}, new batch stats)) on a preprocessed batch."""
    logits, new_state = model.apply({"params": params, **model_state}, batch["video"], train=True,
                                    rngs={"dropout": rng}, mutable=["batch_stats"])
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, batch["label"]).mean()
    accuracy = jnp.mean(jnp.argmax(logits, -1) == batch["label"])
    return loss, ({"loss": loss, "accuracy": accuracy}, new_state)


# ---------------------------------------------------------------------------------------------
# Evaluation.
# ---------------------------------------------------------------------------------------------

def embed(variables, batch, *, model: VideoClassifier):
    """Preprocessed eval batch -> {"logits": [B, C]} (eval-mode BatchNorm, no dropout)."""
    return {"logits": model.apply(variables, batch["video"], train=False)}


def _top1(features) -> dict[str, float]:
    ev = features["eval"]
    probs = classification.softmax(ev["logits"].astype(np.float64))
    return {"top1": classification.multiclip_top1(probs, ev["index"], ev["label"]),
            "top1_clip": classification.top1(probs, ev["label"])}


def evaluators(config) -> dict[str, Callable[[dict], dict[str, float]]]:
    """name -> fn(features) -> metrics; features = {"eval": {"logits", "label", "index"}}."""
    return {"top1": _top1}
