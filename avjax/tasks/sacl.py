"""SACL (Song et al., TPAMI 2024, "Enhancing self-supervised learning via false negative
elimination"; `zjsong/SACL`): contrastive sound source localization with false-negative removal
and positive-pixel mining on pseudo segments. methods/localization_sspl_sacl.md, section 2.

Encoders as SSPL's (`avjax.tasks.sspl.Encoders`), all trainable: ResNet-18 (layer4 stride 1)
-> V [B, 14, 14, 512]; VGGish + sound_fc -> a [B, 128] (normalised mean embedding), g [B, 512].
No PCM, no SimSiam head. Per view v (two views with SACL's colour augmentation and the pseudo
masks m_v cropped with the same geometry):

1. s_v = cos(V_v(hw), g) (SSPL's map, on the raw ResNet map).
2. False negatives, per contrast group of b clips (the official per-GPU batch, 64;
   `config.loss.contrast_batch`): A = a a^T; each row keeps as negatives its int(ratio_neg * b)
   least similar audios (argsort ascending) and the diagonal; the rest are false negatives.
3. Positive pixels: s_v min-max normalised (no eps), thr = sort(s_v)[int(hw * ratio_retain)],
   bin_v = s_v > thr (and the max itself). Masks resized to h x w (nearest). Segments: {all
   ones} if either view's mask is a single segment, else the ids present in both views.
   k* = argmax_k |bin_1 & seg_1k| (first on ties), pos_1 = bin_1 & seg_1k*, pos_2 = bin_2 & seg_2k*
   (seg_2k* if that is empty); no shared id: pos_v = bin_v.
4. S_v[i, j] = max_hw pos_v,i(hw) <V^_v,i(hw), g^_j> (masked pixels count as 0); false negatives
   set to -10 before the temperature; L = CE(S_1 / tau, I) + CE(S_2 / tau, I), tau = 0.005,
   averaged over the contrast groups (DDP's gradient average over GPUs).

Everything else (data, evaluation, weights) is SSPL's: see avjax.tasks.sspl.
"""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from avjax.tasks import sspl
from avjax.tasks.sspl import (batch_spec, chance, embed, evaluators, load_pretrained,  # noqa: F401  (the seam)
                              merged, preprocess, save_outputs, similarity_map, split_frozen, l2_normalize)


class SACL(nn.Module):
    encoders: dict

    def setup(self):
        self.enc = sspl.Encoders(**self.encoders)

    def localize(self, image, spec, train: bool = False):
        """The localization map: raw cosine [B, h, w] of the visual map with g."""
        _, g = self.enc.encode_audio(spec, train)
        return similarity_map(self.enc.encode_image(image, train), g)

    def __call__(self, image1, image2, spec, train: bool = True):
        a, g = self.enc.encode_audio(spec, train)
        v1, v2 = self.enc.encode_image(image1, train), self.enc.encode_image(image2, train)
        return {"a": a, "g": g, "v1": v1, "v2": v2, "s1": similarity_map(v1, g), "s2": similarity_map(v2, g)}


def build_model(config) -> SACL:
    return SACL(encoders=sspl.encoders_from_config(config.model))


def init_variables(model, batch: dict, rng: jax.Array, *, config) -> dict:
    variables = model.init(rng, batch["image1"], batch["image2"], batch["spec"], train=False)
    return split_frozen(dict(variables), sspl.frozen_names(config.model))


# ---------------------------------------------------------------------------------------------
# The loss, one contrast group (b clips) at a time.
# ---------------------------------------------------------------------------------------------

def false_negatives(a: jax.Array, ratio_neg: float) -> jax.Array:
    """a [b, D] normalised -> bool [b, b], True where j is a false negative of i: not among the
    int(ratio_neg * b) least similar audios of row i, and not i itself."""
    b = a.shape[0]
    order = jnp.argsort(a @ a.T, axis=1)                                  # ascending
    keep = jnp.zeros((b, b), bool).at[jnp.arange(b)[:, None], order[:, :int(ratio_neg * b)]].set(True)
    return ~(keep | jnp.eye(b, dtype=bool))


def minmax(s: jax.Array) -> jax.Array:
    """[b, h, w] per-map min-max (`normalize_tensor_imgs`, no eps); a constant map (NaN there) -> 0."""
    lo = jnp.min(s, axis=(1, 2), keepdims=True)
    span = jnp.max(s, axis=(1, 2), keepdims=True) - lo
    return jnp.where(span > 0, (s - lo) / jnp.where(span > 0, span, 1.0), 0.0)


def binary_map(s: jax.Array, ratio_retain: float) -> jax.Array:
    """bool [b, h, w]: `binary[binary > thr] = 1; binary[binary < 1] = 0` on the normalised map,
    thr = its sorted value at int(h * w * ratio_retain); the maximum (exactly 1) always stays."""
    sn = minmax(s)
    flat = sn.reshape(sn.shape[0], -1)
    thr = jnp.sort(flat, axis=1)[:, int(flat.shape[1] * ratio_retain)]
    return (sn > thr[:, None, None]) | (sn >= 1.0)


def resize_nearest(mask: jax.Array, h: int, w: int) -> jax.Array:
    """F.interpolate(mode='nearest'): [b, H, W] -> [b, h, w], source index floor(o * H / h)."""
    rows = np.floor(np.arange(h) * (mask.shape[1] / h)).astype(np.int32)
    cols = np.floor(np.arange(w) * (mask.shape[2] / w)).astype(np.int32)
    return mask[:, rows][:, :, cols]


def positive_masks(s1, s2, m1, m2, ratio_retain: float, num_labels: int = 256):
    """`pixel_contrast`: the positive pixels of each view, float [b, h, w] x 2 (no gradient)."""
    s1, s2 = jax.lax.stop_gradient(s1), jax.lax.stop_gradient(s2)
    h, w = s1.shape[1:]
    m1, m2 = resize_nearest(m1, h, w), resize_nearest(m2, h, w)
    bin1, bin2 = binary_map(s1, ratio_retain), binary_map(s2, ratio_retain)
    labels = jnp.arange(num_labels)
    seg1, seg2 = m1[..., None] == labels, m2[..., None] == labels             # [b, h, w, L]
    single = (jnp.max(m1, axis=(1, 2)) == 0) | (jnp.max(m2, axis=(1, 2)) == 0)
    shared = jnp.any(seg1, axis=(1, 2)) & jnp.any(seg2, axis=(1, 2))           # [b, L]
    inter1 = jnp.sum(bin1[..., None] & seg1, axis=(1, 2))
    k = jnp.argmax(jnp.where(shared, inter1, -1), axis=1)                      # first max, ascending ids
    pick = lambda seg: jnp.take_along_axis(seg, k[:, None, None, None], axis=3)[..., 0]
    k1, k2 = pick(seg1), pick(seg2)
    pos1_seg = bin1 & k1
    pos2_seg = bin2 & k2
    pos2_seg = jnp.where(jnp.any(pos2_seg, axis=(1, 2), keepdims=True), pos2_seg, k2)
    pos2_single = jnp.where(jnp.any(bin2, axis=(1, 2), keepdims=True), bin2, True)
    has_shared = jnp.any(shared, axis=1)[:, None, None]
    single = single[:, None, None]
    pos1 = jnp.where(single, bin1, jnp.where(has_shared, pos1_seg, bin1))
    pos2 = jnp.where(single, pos2_single, jnp.where(has_shared, pos2_seg, bin2))
    return pos1.astype(jnp.float32), pos2.astype(jnp.float32)


def masked_max_similarity(v: jax.Array, pos: jax.Array, g: jax.Array) -> jax.Array:
    """S[i, j] = max_hw pos[i, hw] <V^_i(hw), g^_j>: v [b, h, w, C], pos [b, h, w], g [b, C] -> [b, b]."""
    sim = jnp.einsum("bhwc,jc->bhwj", l2_normalize(v) * pos[..., None], l2_normalize(g))
    return jnp.max(sim, axis=(1, 2))


def group_loss(out: dict, m1, m2, loss_cfg) -> tuple[jax.Array, dict]:
    """SACL's loss on one contrast group: out holds a, g, v1, v2, s1, s2 of b clips."""
    b = out["a"].shape[0]
    fn = false_negatives(jax.lax.stop_gradient(out["a"]), loss_cfg.ratio_neg)
    pos1, pos2 = positive_masks(out["s1"], out["s2"], m1, m2, loss_cfg.ratio_retain_sim)
    labels = jnp.arange(b)
    total, hits = 0.0, 0.0
    for v, pos in ((out["v1"], pos1), (out["v2"], pos2)):
        s = jnp.where(fn, -10.0, masked_max_similarity(v, pos, out["g"]))      # -10 before the temperature
        total = total + optax.softmax_cross_entropy_with_integer_labels(s / loss_cfg.temperature, labels).mean()
        hits = hits + jnp.mean(jnp.argmax(s, axis=1) == labels) / 2
    # accuracy: how often a frame's own audio is its best match among the kept candidates.
    stats = {"positive_pixels": jnp.mean(jnp.sum(pos1, axis=(1, 2))), "false_negatives": jnp.mean(jnp.sum(fn, 1)),
             "accuracy": hits}
    return total, stats


def sacl_loss(out: dict, m1, m2, loss_cfg) -> tuple[jax.Array, dict]:
    """Mean over contrast groups of `config.loss.contrast_batch` clips (the official per-GPU batch)."""
    b = out["a"].shape[0]
    group = int(loss_cfg.contrast_batch) or b
    if b % group:
        raise ValueError(f"config.batch_size={b} must be a multiple of config.loss.contrast_batch={group}")
    split = lambda x: x.reshape((b // group, group) + x.shape[1:])
    losses, stats = jax.vmap(lambda o, a, c: group_loss(o, a, c, loss_cfg))(
        jax.tree.map(split, out), split(m1), split(m2))
    return jnp.mean(losses), jax.tree.map(jnp.mean, stats)


def loss_fn(params, model_state, batch, rng, *, model: SACL, config):
    del rng
    out, new = model.apply(merged(params, model_state), batch["image1"], batch["image2"], batch["spec"], train=True,
                           mutable=["batch_stats"])
    loss, stats = sacl_loss(out, batch["mask1"], batch["mask2"], config.loss)
    return loss, ({"loss": loss, **stats}, {**model_state, **new})
