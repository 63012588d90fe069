"""CrissCross (Sarkar & Etemad, AAAI 2023): SimSiam with relaxed cross-modal synchronicity.

Two views of a clip, (v1, a1) and (v2, a2), drawn by a relaxed temporal scheme
(`avjax.data.temporal`). Each modality has an encoder f (backbone + projector) and a predictor h;
z = f(x), p = h(z). With D(p, z) = -mean_batch cos(p, sg(z)) and L_xy = D(p_x, z_y)/2 + D(p_y, z_x)/2:

    L = [a_v L_v1v2 + a_a L_a1a2 + l_ct (L_v1a2 + L_a1v2) + l_cm (L_v1a1 + L_v2a2)] / N

N = the number of enabled pair terms (6 with all three groups on). Each view goes through its
encoder separately, so BatchNorm statistics are per view, over the global batch.

The task seam (see DESIGN.md): build_model, batch_spec, init_variables, preprocess, loss_fn,
embed, evaluators. The trainer binds `config` (and `model`) as keyword arguments.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from avjax import audio as audio_lib
from avjax import configs
from avjax import video as video_lib
from avjax.evaluators import knn, linear_probe, retrieval
from avjax.models.heads import Predictor, Projector
from avjax.models.r2plus1d import R2Plus1D
from avjax.models.resnet import ResNet18Audio


# ---------------------------------------------------------------------------------------------
# Model.
# ---------------------------------------------------------------------------------------------

class CrissCross(nn.Module):
    """Video and audio encoders with SimSiam projector/predictor heads, one per modality."""
    video_widths: tuple[int, ...] = (64, 128, 256, 512)
    video_blocks: tuple[int, ...] = (2, 2, 2, 2)
    audio_widths: tuple[int, ...] = (64, 128, 256, 512)
    audio_blocks: tuple[int, ...] = (2, 2, 2, 2)
    proj_hidden: int = 2048
    proj_dim: int = 2048
    proj_layers: int = 3
    pred_hidden: int = 512
    pre_norm: bool = False
    dtype: jnp.dtype = jnp.float32

    def setup(self):
        self.video_backbone = R2Plus1D(widths=self.video_widths, blocks=self.video_blocks,
                                       stem_width=self.video_widths[0], dtype=self.dtype)
        self.audio_backbone = ResNet18Audio(widths=self.audio_widths, blocks=self.audio_blocks, dtype=self.dtype)
        self.video_projector = Projector(hidden=self.proj_hidden, out=self.proj_dim, num_layers=self.proj_layers)
        self.audio_projector = Projector(hidden=self.proj_hidden, out=self.proj_dim, num_layers=self.proj_layers)
        self.video_predictor = Predictor(hidden=self.pred_hidden, out=self.proj_dim)
        self.audio_predictor = Predictor(hidden=self.pred_hidden, out=self.proj_dim)

    def _heads(self, feat, projector, predictor, train):
        z = projector(feat.astype(jnp.float32), train)
        if self.pre_norm:
            z = z / jnp.maximum(jnp.linalg.norm(z, axis=-1, keepdims=True), 1e-12)
        return z, predictor(z, train)

    def encode_video(self, video, train: bool):
        """video: [B, T, H, W, 3] float -> (backbone [B, C], z [B, D], p [B, D])."""
        feat = self.video_backbone(video, train)
        return (feat,) + self._heads(feat, self.video_projector, self.video_predictor, train)

    def encode_audio(self, spec, train: bool):
        """spec: [B, F, T] log-mel -> (backbone [B, C], z [B, D], p [B, D])."""
        feat = self.audio_backbone(spec, train)
        return (feat,) + self._heads(feat, self.audio_projector, self.audio_predictor, train)

    def __call__(self, v1, v2, a1, a2, train: bool = True):
        """Four separate encoder calls (per-view BatchNorm statistics, as the reference code)."""
        out = {}
        for name, x, enc in (("v1", v1, self.encode_video), ("v2", v2, self.encode_video),
                             ("a1", a1, self.encode_audio), ("a2", a2, self.encode_audio)):
            _, out[f"z{name}"], out[f"p{name}"] = enc(x, train)
        return out


def build_model(config) -> CrissCross:
    m = config.model
    return CrissCross(
        video_widths=tuple(m.video_widths), video_blocks=tuple(m.video_blocks),
        audio_widths=tuple(m.audio_widths), audio_blocks=tuple(m.audio_blocks),
        proj_hidden=m.proj_hidden, proj_dim=m.proj_dim, proj_layers=m.proj_layers,
        pred_hidden=m.pred_hidden, pre_norm=m.pre_norm, dtype=configs.compute_dtype(config))


# ---------------------------------------------------------------------------------------------
# Data contract and on-device preprocessing.
# ---------------------------------------------------------------------------------------------

def batch_spec(config, train: bool = True) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Per-example shapes and dtypes the host pipeline delivers."""
    v = (config.video.num_frames, config.video.crop_size, config.video.crop_size, 3)
    a = (int(round(config.audio.seconds * config.audio.sample_rate)),)
    if train:
        return {"video1": (v, np.uint8), "video2": (v, np.uint8),
                "audio1": (a, np.float32), "audio2": (a, np.float32), "label": ((), np.int32)}
    return {"video": (v, np.uint8), "audio": (a, np.float32), "label": ((), np.int32),
            "index": ((), np.int32), "mask": ((), np.float32)}


def _aug_configs(config):
    vcfg = dataclasses.replace(video_lib.VideoAugConfig(), **dict(config.video.aug))
    acfg = dataclasses.replace(audio_lib.AudioAugConfig(), sample_rate=config.audio.sample_rate,
                               n_fft=config.audio.n_fft, hop_length=config.audio.hop_length,
                               n_mels=config.audio.n_mels, **dict(config.audio.aug))
    return vcfg, acfg


def preprocess(batch: dict, rng: jax.Array, train: bool, *, config) -> dict:
    """uint8 video -> augmented, normalised float; waveform -> (augmented) log-mel [B, F, T]."""
    vcfg, acfg = _aug_configs(config)
    if not train:
        return {"video": video_lib.video_eval(batch["video"]),
                "spec": audio_lib.audio_eval(batch["audio"], acfg)}
    kv1, kv2, ka1, ka2 = jax.random.split(rng, 4)
    return {"v1": video_lib.video_augment(batch["video1"], kv1, vcfg),
            "v2": video_lib.video_augment(batch["video2"], kv2, vcfg),
            "a1": audio_lib.audio_augment(batch["audio1"], ka1, acfg),
            "a2": audio_lib.audio_augment(batch["audio2"], ka2, acfg)}


def init_variables(model: CrissCross, batch: dict, rng: jax.Array, *, config) -> dict:
    """Variables from a (preprocessed, training) batch: {"params", "batch_stats"}.

    train=False: BatchNorm starts from mean 0 / var 1 as in PyTorch (a train-mode init would fold
    the dummy batch into the running averages), and XLA drops the forward pass from the init.
    """
    return model.init(rng, batch["v1"], batch["v2"], batch["a1"], batch["a2"], train=False)


# ---------------------------------------------------------------------------------------------
# Loss.
# ---------------------------------------------------------------------------------------------

def negative_cosine(p: jax.Array, z: jax.Array, eps: float = 1e-8) -> jax.Array:
    """D(p, z) = -mean_i cos(p_i, stop_gradient(z_i)); torch 1.7 cosine_similarity (eps on the product)."""
    z = jax.lax.stop_gradient(z)
    p, z = p.astype(jnp.float32), z.astype(jnp.float32)
    cos = jnp.sum(p * z, -1) / jnp.maximum(jnp.linalg.norm(p, axis=-1) * jnp.linalg.norm(z, axis=-1), eps)
    return -jnp.mean(cos)


def crisscross_loss(out: dict, loss_cfg) -> tuple[jax.Array, dict]:
    """out: z/p for v1, v2, a1, a2 ([B, D] each) -> (total, {the six pair terms})."""
    def pair(x, y):
        return 0.5 * negative_cosine(out[f"p{x}"], out[f"z{y}"]) + 0.5 * negative_cosine(out[f"p{y}"], out[f"z{x}"])

    terms, total, num = {}, 0.0, 0
    if loss_cfg.intra:  # `joint` in the official code
        terms["L_v1v2"], terms["L_a1a2"] = pair("v1", "v2"), pair("a1", "a2")
        total += loss_cfg.vid_coeff * terms["L_v1v2"] + loss_cfg.aud_coeff * terms["L_a1a2"]
        num += 2
    if loss_cfg.asynchronous:  # `ctcm`: cross-time cross-modal
        terms["L_v1a2"], terms["L_a1v2"] = pair("v1", "a2"), pair("a1", "v2")
        total += loss_cfg.ct_coeff * (terms["L_v1a2"] + terms["L_a1v2"])
        num += 2
    if loss_cfg.synchronous:  # `cm`
        terms["L_v1a1"], terms["L_v2a2"] = pair("v1", "a1"), pair("v2", "a2")
        total += loss_cfg.cm_coeff * (terms["L_v1a1"] + terms["L_v2a2"])
        num += 2
    if num == 0:
        raise ValueError("config.loss: enable at least one of intra, synchronous, asynchronous")
    return total / num, terms


def loss_fn(params, model_state, batch, rng, *, model: CrissCross, config):
    """Pure: (loss, (metrics, new_model_state)) for a preprocessed training batch."""
    del rng  # no dropout in CrissCross
    out, new_state = model.apply({"params": params, **model_state}, batch["v1"], batch["v2"],
                                 batch["a1"], batch["a2"], train=True, mutable=["batch_stats"])
    loss, terms = crisscross_loss(out, config.loss)
    # Collapse monitor (SimSiam): per-dimension std of the normalised projector output ~ 1/sqrt(D).
    zn = out["zv1"] / jnp.linalg.norm(out["zv1"], axis=-1, keepdims=True)
    metrics = {"loss": loss, **terms, "z_std": jnp.mean(jnp.std(zn, axis=0))}
    return loss, (metrics, new_state)


# ---------------------------------------------------------------------------------------------
# Evaluation.
# ---------------------------------------------------------------------------------------------

def embed(variables, batch, *, model: CrissCross):
    """Preprocessed eval batch -> backbone features and heads for both modalities (eval-mode BN)."""
    fv, zv, pv = model.apply(variables, batch["video"], False, method=CrissCross.encode_video)
    fa, za, pa = model.apply(variables, batch["spec"], False, method=CrissCross.encode_audio)
    return {"video_feat": fv, "video_z": zv, "video_p": pv, "audio_feat": fa, "audio_z": za, "audio_p": pa}


def _retrieval(features, config) -> dict[str, float]:
    """A->V and V->A Recall@K on held-out clips; `config.eval.retrieval_space` picks the embedding.

    "predictor": query p of one modality against gallery z of the other (what the loss aligns);
    "projector": z against z; "backbone": pooled backbone features.
    """
    ev, space = features["eval"], config.eval.retrieval_space
    q_key, g_key = {"predictor": ("p", "z"), "projector": ("z", "z"), "backbone": ("feat", "feat")}[space]
    out = {}
    for name, q, g in (("a2v", "audio", "video"), ("v2a", "video", "audio")):
        # r1, r5, r10 and the instance part: r5_within_class, R@5 among the clips of the query's
        # class (chance: 5 / clips a class).
        for k, v in retrieval.recalls(ev[f"{q}_{q_key}"], ev[f"{g}_{g_key}"], ev["label"]).items():
            out[f"{name}_{k}"] = v
    return out


def _probe(name: str, fn: Callable, features, config) -> dict[str, float]:
    """Fit on the probe clips' backbone features, score on the held-out clips."""
    tr, ev = features["probe"], features["eval"]
    return {f"{name}_{m}": fn(tr[f"{m}_feat"], tr["label"], ev[f"{m}_feat"], ev["label"], config.data.num_classes)
            for m in ("video", "audio")}


def evaluators(config) -> dict[str, Callable[[dict], dict[str, float]]]:
    """name -> fn(features) -> metrics; features = {"probe": {...}, "eval": {...}} from `embed`."""
    return {
        "linear_probe": lambda f: _probe("linear_probe", linear_probe.linear_probe, f, config),
        "knn": lambda f: _probe("knn", knn.knn_accuracy, f, config),
        "retrieval": lambda f: _retrieval(f, config),
    }


def chance(config, features) -> dict[str, float]:
    """What each metric is for a model that knows nothing (majority class; random ranking)."""
    labels = features["eval"]["label"]
    majority = float(np.bincount(labels).max() / len(labels))
    out = {"linear_probe_video": majority, "linear_probe_audio": majority,
           "knn_video": majority, "knn_audio": majority}
    for k, v in retrieval.chance_recall(len(labels)).items():
        out[f"a2v_{k}"] = out[f"v2a_{k}"] = v
    out["a2v_r5_within_class"] = out["v2a_r5_within_class"] = retrieval.chance_within_class_recall(labels)
    return out
