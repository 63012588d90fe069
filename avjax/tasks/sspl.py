"""SSPL (Song et al., CVPR 2022): self-supervised sound source localization with SimSiam, with or
without the predictive coding module (PCM). methods/localization_sspl_sacl.md, section 1.

Per clip: one frame (two augmented views, `avjax.data.localization_train`) and 3 s of audio.

    audio:  wave [B, 48000] -> VGGish log-mel patches [B, 3, 96, 64] -> sound_net per patch
            -> e [B, 3, 128];  a = normalize(mean_p e)  [B, 128]  (fed to the PCM)
            g = mean_p sound_fc(e)  [B, 512]  (sound_fc: Linear(128, 512) -> ReLU -> Linear(512, 512))
    visual: view [B, 224, 224, 3] -> frame_net (VGG16 conv5_3, frozen) -> V [B, 14, 14, 512]
            F = PCM(V, a) (model.pcm) or V
    map:    s[hw] = <F(hw) / |F(hw)|, g / |g|>  (the localization map, raw cosine)
            s~ = (s - min s) / (max s - min s + 1e-10);  f_av = sum_hw F(hw) s~(hw)  [B, 512]
    head:   z = projector(f_av), p = predictor(z), per view (per-view BatchNorm statistics)
    loss:   L = 1/2 [D(p1, z2) + D(p2, z1)],  D(p, z) = -mean cos(p, stop_gradient(z))

Evaluation: the raw cosine map of the test view -> `localization_metrics(protocol="sspl")`
against the ground-truth maps (Flickr consensus, VGG-SS box union, or the synthetic world's
box); `center_prior_*` is the same metric for a fixed centred box (half the side) and `chance`
returns it. `save_outputs` writes heatmap overlays into the workdir (`avjax eval`).

Backbones (`config.model.visual`, `config.model.audio`): "vgg16" (`avjax.models.vgg.VGG16Conv5`),
"resnet18" (`avjax.models.resnet.ResNet18Image(layer4_stride=1)`), "vggish"
(`avjax.models.vggish.VGGish`), or "tiny" (`TinyConvNet` / `TinyAudioNet`, for the synthetic
world on a CPU). Pretrained weights come from `avjax import-weights` folders or from the workdir
of a localization run that trained the same backbone, named by `config.model.visual_weights` /
`config.model.audio_weights` ("none": random init).
Frozen parts (`config.model.frozen`, SSPL: frame_net and sound_net) live in the model state's
"frozen" collection, outside the optimiser: no gradient, no weight decay, no optimiser moments.

Left as in the paper, not the code: the official SSPL builds its NetWrapper from the modules
before wrapping them in DistributedDataParallel, so its gradients are probably never
all-reduced (each GPU trains its own copy on 128 clips; only BatchNorm statistics are synced).
Here gradients are global, as DDP intends; that quirk is not reproduced.

The task seam (DESIGN.md): build_model, batch_spec, init_variables, load_pretrained, preprocess,
loss_fn, embed, evaluators, chance, save_outputs.
"""
from __future__ import annotations

import logging
import os
from typing import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from avjax import video as video_lib
from avjax.evaluators import localization
from avjax.models import batch_norm, max_pool, torch_default_bias_init, torch_default_kernel_init
from avjax.models.heads import linear
from avjax.models.pcm import PCM
from avjax.tasks.crisscross import negative_cosine

log = logging.getLogger("avjax.localization")

VISUAL = ("vgg16", "resnet18", "tiny")
AUDIO = ("vggish", "tiny")
WEIGHT_ARCH = {"vgg16": "vgg16", "resnet18": "resnet18", "vggish": "vggish"}


# ---------------------------------------------------------------------------------------------
# Small backbones for the synthetic world (the pretrained ones are avjax.models.vgg / vggish / resnet).
# ---------------------------------------------------------------------------------------------

def _conv(features: int, name: str, fan_in: int, bias: bool = False) -> nn.Conv:
    return nn.Conv(features, (3, 3), padding=((1, 1), (1, 1)), use_bias=bias, param_dtype=jnp.float32,
                   kernel_init=nn.with_logical_partitioning(torch_default_kernel_init(), (None, None, "in", "out")),
                   bias_init=torch_default_bias_init(9 * fan_in), name=name)


class TinyConvNet(nn.Module):
    """A small image encoder with the big ones' output contract: [B, H, W, 3] -> [B, H/4, W/4, out]
    (stride 4, so a 56-pixel view gives the 14 x 14 map the PCM wants).
    (conv3x3-BN-ReLU, maxpool2) x 2, conv3x3-BN-ReLU, conv3x3 (linear, like VGG's conv5_3)."""
    widths: Sequence[int] = (16, 32, 64)
    out: int = 64

    @nn.compact
    def __call__(self, x, train: bool):
        for i, w in enumerate(self.widths):
            x = nn.relu(batch_norm(train, jnp.float32, f"bn{i}")(_conv(w, f"conv{i}", x.shape[-1])(x)))
            if i < 2:
                x = max_pool(x, (2, 2), (2, 2), ((0, 0), (0, 0)))
        return _conv(self.out, "conv_out", x.shape[-1], bias=True)(x)


class TinyAudioNet(nn.Module):
    """A small VGGish: log-mel patches [..., 96, 64] -> [..., emb] (ReLU'd, non-negative like VGGish).
    2x2 average pool of the input (CPU budget), (conv3x3-BN-ReLU, maxpool2) x len(widths) -> global
    average -> Linear -> ReLU."""
    widths: Sequence[int] = (16, 32, 64)
    emb: int = 128

    @nn.compact
    def __call__(self, x, train: bool):
        lead = x.shape[:-2]
        x = nn.avg_pool(x.reshape((-1,) + x.shape[-2:] + (1,)), (2, 2), (2, 2))
        for i, w in enumerate(self.widths):
            x = nn.relu(batch_norm(train, jnp.float32, f"bn{i}")(_conv(w, f"conv{i}", x.shape[-1])(x)))
            x = max_pool(x, (2, 2), (2, 2), ((0, 0), (0, 0)))
        x = jnp.mean(x, axis=(1, 2))
        return nn.relu(linear(self.emb, x.shape[-1], jnp.float32, "fc")(x)).reshape(lead + (self.emb,))


# ---------------------------------------------------------------------------------------------
# Shared encoders and the similarity map (SSPL and SACL).
# ---------------------------------------------------------------------------------------------

def l2_normalize(x, axis=-1, eps: float = 1e-12):
    """F.normalize: x / max(|x|, eps)."""
    return x / jnp.maximum(jnp.linalg.norm(x, axis=axis, keepdims=True), eps)


def similarity_map(feat, g):
    """s[b, h, w] = <normalize(feat[b, h, w]), normalize(g[b])>: feat [B, h, w, C], g [B, C]."""
    return jnp.einsum("bhwc,bc->bhw", l2_normalize(feat.astype(jnp.float32)), l2_normalize(g.astype(jnp.float32)))


def att_map_weight(feat, g):
    """SSPL `att_map_weight`: (f_av [B, C], s [B, h, w] raw cosine). f_av = sum_hw F(hw) s~(hw) with
    the unnormalised F and s~ = per-sample min-max of s (+1e-10)."""
    s = similarity_map(feat, g)
    lo = jnp.min(s, axis=(1, 2), keepdims=True)
    hi = jnp.max(s, axis=(1, 2), keepdims=True)
    att = (s - lo) / (hi - lo + 1e-10)
    return jnp.einsum("bhwc,bhw->bc", feat.astype(jnp.float32), att), s


def _linear(features: int, fan_in: int) -> nn.Dense:
    """PyTorch nn.Linear (for `setup`, where the attribute gives the name)."""
    return nn.Dense(features, param_dtype=jnp.float32,
                    kernel_init=nn.with_logical_partitioning(torch_default_kernel_init(), ("in", "out")),
                    bias_init=torch_default_bias_init(fan_in))


class Encoders(nn.Module):
    """frame_net, sound_net and sound_fc (the trainable 128 -> 512 -> out head of the audio net)."""
    visual: str = "vgg16"
    audio: str = "vggish"
    out_dim: int = 512
    tiny_visual_widths: Sequence[int] = (16, 32, 64)
    tiny_audio_widths: Sequence[int] = (16, 32, 64)
    visual_dim: int = 512
    frozen: Sequence[str] = ()  # frozen parts are fixed functions: their BatchNorm runs on running statistics

    def setup(self):
        if self.visual == "vgg16":
            from avjax.models.vgg import VGG16Conv5
            self.frame_net = VGG16Conv5()
        elif self.visual == "resnet18":
            from avjax.models.resnet import ResNet18Image
            self.frame_net = ResNet18Image(layer4_stride=1)
        elif self.visual == "tiny":
            self.frame_net = TinyConvNet(tuple(self.tiny_visual_widths), self.visual_dim)
        else:
            raise ValueError(f"config.model.visual={self.visual!r}: use one of {VISUAL}")
        if self.audio == "vggish":
            from avjax.models.vggish import VGGish
            self.sound_net = VGGish()
        elif self.audio == "tiny":
            self.sound_net = TinyAudioNet(tuple(self.tiny_audio_widths), 128)
        else:
            raise ValueError(f"config.model.audio={self.audio!r}: use one of {AUDIO}")
        # nn.Sequential(Linear(128, 512), ReLU, Linear(512, out)) of torchvggish's `fc`.
        self.sound_fc_0 = _linear(512, 128)
        self.sound_fc_2 = _linear(self.out_dim, 512)

    def encode_audio(self, spec, train: bool):
        """spec [B, P, 96, 64] -> (a [B, 128] L2-normalised mean embedding, g [B, out] mean of fc)."""
        train_net = train and "sound_net" not in self.frozen
        e = self.sound_net(spec) if self.audio == "vggish" else self.sound_net(spec, train_net)
        g = jnp.mean(self.sound_fc_2(nn.relu(self.sound_fc_0(e))), axis=1)
        return l2_normalize(jnp.mean(e, axis=1)), g

    def encode_image(self, image, train: bool):
        """image [B, H, W, 3] normalised -> V [B, h, w, C] float32."""
        train_net = train and "frame_net" not in self.frozen
        v = self.frame_net(image) if self.visual == "vgg16" else self.frame_net(image, train_net)
        return v.astype(jnp.float32)


def encoders_from_config(m) -> dict:
    return dict(visual=m.visual, audio=m.audio, out_dim=m.out_dim, tiny_visual_widths=tuple(m.tiny_visual_widths),
                tiny_audio_widths=tuple(m.tiny_audio_widths), visual_dim=m.visual_dim,
                frozen=frozen_names(m))


# ---------------------------------------------------------------------------------------------
# SSPL model.
# ---------------------------------------------------------------------------------------------

class SimSiamProjector(nn.Module):
    """SSPL `projection_mlp`: (Linear no bias + BN + ReLU) x 2 -> Linear no bias + BN(affine=False)."""
    hidden: int = 2048
    out: int = 2048

    @nn.compact
    def __call__(self, x, train: bool):
        for i, width in enumerate((self.hidden, self.hidden, self.out)):
            x = nn.Dense(width, use_bias=False, param_dtype=jnp.float32,
                         kernel_init=nn.with_logical_partitioning(torch_default_kernel_init(), ("in", "out")),
                         name=f"layer{i + 1}_linear")(x)
            if i < 2:
                x = nn.relu(batch_norm(train, jnp.float32, f"layer{i + 1}_bn")(x))
            else:
                x = nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5, use_scale=False,
                                 use_bias=False, name="layer3_bn")(x)
        return x


class SimSiamPredictor(nn.Module):
    """SSPL `prediction_mlp`: Linear no bias + BN + ReLU -> Linear (biased)."""
    hidden: int = 512
    out: int = 2048

    @nn.compact
    def __call__(self, x, train: bool):
        x = nn.Dense(self.hidden, use_bias=False, param_dtype=jnp.float32,
                     kernel_init=nn.with_logical_partitioning(torch_default_kernel_init(), ("in", "out")),
                     name="layer1_linear")(x)
        x = nn.relu(batch_norm(train, jnp.float32, "layer1_bn")(x))
        return linear(self.out, x.shape[-1], jnp.float32, "layer2")(x)


class SSPL(nn.Module):
    encoders: dict
    pcm: bool = True
    cycles: int = 4
    proj_hidden: int = 2048
    proj_dim: int = 2048
    pred_hidden: int = 512

    def setup(self):
        self.enc = Encoders(**self.encoders)
        self.pcm_net = PCM(cycles=self.cycles, audio_dim=128, out_dim=self.encoders["out_dim"]) if self.pcm else None
        self.projector = SimSiamProjector(self.proj_hidden, self.proj_dim)
        self.predictor = SimSiamPredictor(self.pred_hidden, self.proj_dim)

    def features(self, image, a, train: bool):
        v = self.enc.encode_image(image, train)
        return self.pcm_net(v, a, train) if self.pcm_net is not None else v

    def localize(self, image, spec, train: bool = False):
        """The localization map: raw cosine [B, h, w] of the (PCM) features with g."""
        a, g = self.enc.encode_audio(spec, train)
        return similarity_map(self.features(image, a, train), g)

    def __call__(self, image1, image2, spec, train: bool = True):
        a, g = self.enc.encode_audio(spec, train)
        out = {}
        for k, image in ((1, image1), (2, image2)):  # each view separately: per-view BN statistics
            f_av, out[f"s{k}"] = att_map_weight(self.features(image, a, train), g)
            out[f"z{k}"] = self.projector(f_av, train)
            out[f"p{k}"] = self.predictor(out[f"z{k}"], train)
        return out


def build_model(config) -> SSPL:
    m = config.model
    return SSPL(encoders=encoders_from_config(m), pcm=bool(m.pcm), cycles=int(m.cycs_pcm),
                proj_hidden=m.proj_hidden, proj_dim=m.proj_dim, pred_hidden=m.pred_hidden)


# ---------------------------------------------------------------------------------------------
# Data contract and on-device preprocessing (shared with SACL).
# ---------------------------------------------------------------------------------------------

def batch_spec(config, train: bool = True) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Per-example shapes and dtypes (`avjax.data.localization_train` delivers them)."""
    s = config.image.crop_size
    a = (int(round(config.audio.seconds * config.audio.sample_rate)),)
    if train:
        spec = {"image1": ((s, s, 3), np.uint8), "image2": ((s, s, 3), np.uint8), "audio": (a, np.float32)}
        if config.data.get("pseudo_mask", "none") != "none":
            spec.update(mask1=((s, s), np.uint8), mask2=((s, s), np.uint8))
        return spec
    return {"image": ((s, s, 3), np.uint8), "audio": (a, np.float32), "label": ((), np.int32),
            "index": ((), np.int32), "mask": ((), np.float32)}


def log_mel_patches(audio):
    """[B, 48000] -> VGGish log-mel patches [B, 3, 96, 64] (`avjax.models.vggish`, both backbones)."""
    from avjax.models import vggish
    return vggish.log_mel_patches(audio)


def colour_augment(images, key, aug) -> jax.Array:
    """SACL's per-view colour augmentation on [B, H, W, 3] float in [0, 1]: ColorJitter(b, c, s, h)
    with probability p_jitter, grayscale with p_gray, Gaussian blur sigma in [0.1, 2] with p_blur
    (torchvision ops, `avjax.video`; one draw per image). aug: config.image.aug."""
    x = images[:, None]  # the video ops take clips [B, T, H, W, 3]
    kj, kp, kg, kb = jax.random.split(key, 4)
    if aug.p_jitter > 0:
        jit = video_lib.color_jitter(x, kj, aug.brightness, aug.contrast, aug.saturation, aug.hue)
        apply = jax.random.uniform(kp, (x.shape[0],)) < aug.p_jitter
        x = jnp.where(apply[:, None, None, None, None], jit, x)
    if aug.p_gray > 0:
        x = video_lib.grayscale(x, kg, aug.p_gray)
    if aug.p_blur > 0:
        x = video_lib.gaussian_blur(x, kb, aug.p_blur, aug.blur_kernel_size, (0.1, 2.0))
    return x[:, 0]


def preprocess(batch: dict, rng: jax.Array, train: bool, *, config) -> dict:
    """uint8 images -> ImageNet-normalised float (training views: + the colour augmentation when
    config.image.aug.enabled, SACL); waveform -> log-mel patches; masks -> int32."""
    spec = log_mel_patches(batch["audio"])
    if not train:
        return {"image": video_lib.normalize(video_lib.to_float(batch["image"])), "spec": spec}
    out = {"spec": spec}
    keys = jax.random.split(rng, 2)
    for k in (1, 2):
        x = video_lib.to_float(batch[f"image{k}"])
        if config.image.aug.enabled:
            x = colour_augment(x, keys[k - 1], config.image.aug)
        out[f"image{k}"] = video_lib.normalize(x)
        if f"mask{k}" in batch:
            out[f"mask{k}"] = batch[f"mask{k}"].astype(jnp.int32)
    return out


# ---------------------------------------------------------------------------------------------
# Variables: frozen parts outside the optimiser, pretrained weights.
# ---------------------------------------------------------------------------------------------

def frozen_names(m) -> tuple[str, ...]:
    """The frozen parts named by `config.model.frozen` (m = config.model; absent or empty: none)."""
    return tuple(m.get("frozen", ()) or ())


def split_frozen(variables: dict, frozen: Sequence[str]) -> dict:
    """Moves the encoder submodules named in `frozen` ("frame_net", "sound_net") from "params" to a
    "frozen" collection (not trained, not decayed)."""
    if not frozen:
        return variables
    params = dict(variables["params"])
    enc = dict(params["enc"])
    unknown = [n for n in frozen if n not in enc]
    if unknown:
        raise ValueError(f"config.model.frozen: {unknown} are not encoder parts; choose from {sorted(enc)}")
    frozen_tree = {"enc": {n: enc.pop(n) for n in frozen}}
    params["enc"] = enc
    return {**variables, "params": params, "frozen": frozen_tree}


def merged(params, model_state) -> dict:
    """The apply variables: trainable params + frozen params (one "params" tree) + batch stats."""
    frozen = model_state.get("frozen")
    out = {k: v for k, v in model_state.items() if k != "frozen"}
    if frozen:
        params = dict(params, enc={**params["enc"], **frozen["enc"]})
    return {"params": params, **out}


def init_variables(model, batch: dict, rng: jax.Array, *, config) -> dict:
    """{"params", "batch_stats", ["frozen"]}; BatchNorm starts at mean 0 / var 1 (train=False)."""
    variables = model.init(rng, batch["image1"], batch["image2"], batch["spec"], train=False)
    return split_frozen(dict(variables), frozen_names(config.model))


def load_pretrained(state: dict, shardings: dict, *, config) -> dict:
    """Replace frame_net / sound_net by pretrained weights (config.model.visual_weights /
    audio_weights): an `avjax import-weights` folder, or the workdir of an SSPL / SACL run with
    the same backbone (its latest checkpoint's trained part). "none" keeps the random init; empty:
    an error for the pretrained architectures, the random init for "tiny"."""
    from avjax import weights as weights_lib
    m = config.model
    for part, arch, field in (("frame_net", m.visual, "visual_weights"), ("sound_net", m.audio, "audio_weights")):
        path = m.get(field, "")
        if path == "none" or (not path and arch == "tiny"):
            if arch != "tiny":
                log.warning("config.model.%s='none': %s starts from a random initialisation", field, arch)
            continue
        if not path:
            raise ValueError(f"config.model.{field} is empty: the {arch} {part} starts from pretrained weights; "
                             f"create them with `avjax import-weights --arch {WEIGHT_ARCH[arch]} --src FILE "
                             f"--out DIR` and set --config.model.{field}=DIR (or 'none' for a random init)")
        if os.path.isdir(os.path.join(path, "checkpoints")):
            loaded = _from_workdir(state, shardings, part, path, f"config.model.{field}")
        elif arch == "tiny":
            raise ValueError(f"config.model.{field}={path!r} is not a training workdir (no checkpoints/ in it): "
                             f"the tiny {part} loads from the --workdir of a localization run that trained it")
        else:
            loaded = weights_lib.load_converted(path, WEIGHT_ARCH[arch])
        state = _place(state, shardings, part, loaded, f"config.model.{field}={path}")
        log.info("%s initialised from %s", part, path)
    return state


def _from_workdir(state, shardings, part: str, workdir: str, field: str) -> dict:
    """{"params", ["batch_stats"]} of encoder `part` from the latest checkpoint of a localization run
    that trained it (params/enc/<part>); shapes and shardings from where `part` lives in `state`."""
    from avjax import checkpoint as ckpt_lib
    home = state["params"] if part in state["params"].get("enc", {}) else state["model_state"]["frozen"]
    home_sh = shardings["params"] if home is state["params"] else shardings["model_state"]["frozen"]
    abstract = ckpt_lib.abstract_with_shardings
    target = {"params": {"enc": {part: abstract(home["enc"][part], home_sh["enc"][part])}}}
    stats = state["model_state"].get("batch_stats", {}).get("enc", {}).get(part)
    if stats is not None:
        target["model_state"] = {"batch_stats": {"enc": {part: abstract(
            stats, shardings["model_state"]["batch_stats"]["enc"][part])}}}
    restored, _ = ckpt_lib.restore_partial(workdir, target, field=field)
    out = {"params": restored["params"]["enc"][part]}
    if stats is not None:
        out["batch_stats"] = restored["model_state"]["batch_stats"]["enc"][part]
    return out


def _place(state, shardings, part: str, loaded: dict, where: str) -> dict:
    """Put `loaded` {"params", ["batch_stats"]} where `part` lives in the state (params or frozen)."""
    state = dict(state, params=dict(state["params"]), model_state=dict(state["model_state"]))
    homes = [("params",), ("model_state", "frozen")]
    for home in homes:
        tree = state
        for k in home:
            tree = tree.get(k, {})
        if part in tree.get("enc", {}):
            break
    else:
        raise ValueError(f"{where}: the model has no {part}")

    def put(root_path, value):
        node_s, node_sh = state, shardings
        for k in root_path[:-1]:
            node_s[k] = dict(node_s[k])
            node_s, node_sh = node_s[k], node_sh[k]
        old = node_s[root_path[-1]]
        if jax.tree.map(np.shape, old) != jax.tree.map(np.shape, value):
            raise ValueError(f"{where}: the weights do not match the model's {part} (shapes differ)")
        node_s[root_path[-1]] = jax.tree.map(lambda v, s: jax.device_put(np.asarray(v, np.float32), s),
                                            value, node_sh[root_path[-1]])

    put(home + ("enc", part), loaded["params"])
    if "batch_stats" in loaded:
        put(("model_state", "batch_stats", "enc", part), loaded["batch_stats"])
    return state


# ---------------------------------------------------------------------------------------------
# Loss.
# ---------------------------------------------------------------------------------------------

def sspl_loss(out: dict) -> jax.Array:
    """L = 1/2 [D(p1, z2) + D(p2, z1)] (SimSiam; `criterions.py`, cosine eps 1e-8)."""
    return 0.5 * negative_cosine(out["p1"], out["z2"]) + 0.5 * negative_cosine(out["p2"], out["z1"])


def loss_fn(params, model_state, batch, rng, *, model: SSPL, config):
    del rng
    out, new = model.apply(merged(params, model_state), batch["image1"], batch["image2"], batch["spec"], train=True,
                           mutable=["batch_stats"])
    loss = sspl_loss(out)
    zn = l2_normalize(out["z1"])
    # z_std: SimSiam's collapse monitor (~1/sqrt(D) when healthy); sim_spread: max - min of the map.
    spread = jnp.max(out["s1"], (1, 2)) - jnp.min(out["s1"], (1, 2))
    metrics = {"loss": loss, "z_std": jnp.mean(jnp.std(zn, axis=0)), "sim_mean": jnp.mean(out["s1"]),
               "sim_spread": jnp.mean(spread)}
    return loss, (metrics, {**model_state, **new})


# ---------------------------------------------------------------------------------------------
# Evaluation (shared with SACL).
# ---------------------------------------------------------------------------------------------

def embed(variables, batch, *, model):
    """Preprocessed eval batch -> {"heatmap": [B, h, w]} raw cosine maps (eval-mode BatchNorm)."""
    frozen = {k: v for k, v in variables.items() if k != "params"}
    heat = model.apply(merged(variables["params"], frozen), batch["image"], batch["spec"], False,
                       method=type(model).localize)
    return {"heatmap": heat}


def center_prior_maps(n: int, size: int = 14, fraction: float = 0.5) -> np.ndarray:
    """A centred box of `fraction` of the side as a heatmap [n, size, size] (1 inside, 0 outside)."""
    m = np.zeros((size, size))
    lo, hi = int(round(size * (1 - fraction) / 2)), int(round(size * (1 + fraction) / 2))
    m[lo:hi, lo:hi] = 1.0
    return np.broadcast_to(m, (n, size, size))


def _gt(config, indices):
    from avjax.data import localization_train
    return localization_train.gt_maps(config, localization_train.eval_source(config), indices)


def localization_eval(features, config) -> dict[str, float]:
    """cIoU@0.5 / mean cIoU / AUC of the heatmaps (SSPL protocol by default) and, beside them, the
    centre-box prior's (`center_prior_*`)."""
    ev = features["eval"]
    gt = _gt(config, ev["index"])
    protocol = config.eval.get("protocol", "sspl")
    out = localization.localization_metrics(ev["heatmap"], gt, protocol=protocol)
    prior = localization.localization_metrics(center_prior_maps(len(gt), ev["heatmap"].shape[-1]), gt,
                                              protocol=protocol)
    out.update({f"center_prior_{k}": v for k, v in prior.items() if k != "num_images"})
    return out


def evaluators(config) -> dict[str, Callable[[dict], dict[str, float]]]:
    return {"localization": lambda f: localization_eval(f, config)}


def chance(config, features) -> dict[str, float]:
    """A model that knows nothing: the centre-box prior."""
    ev = features["eval"]
    gt = _gt(config, ev["index"])
    return localization.localization_metrics(center_prior_maps(len(gt), ev["heatmap"].shape[-1]), gt,
                                             protocol=config.eval.get("protocol", "sspl"))


def save_outputs(config, features, workdir: str) -> list[str]:
    """Overlays of the first config.eval.num_overlays test images (heatmap + gt boxes) in
    WORKDIR/overlays/<name>.png."""
    from avjax.data import localization_sets, localization_train
    ev = features["eval"]
    n = min(int(config.eval.get("num_overlays", 16)), len(ev["index"]))
    if n == 0:
        return []
    source = localization_train.eval_source(config)
    spec = localization_train.ViewSpec.from_config(config)
    idx = [int(i) for i in ev["index"][:n]]
    size = localization_sets.GT_SIZE
    images = np.stack([np.asarray(localization_train.Image.fromarray(
        localization_train.test_view(source.frame(i), spec)).resize((size, size))) for i in idx])
    boxes = []
    for i in idx:
        if isinstance(source, localization_train.SyntheticPairs):
            boxes.append(np.array([[int(size * max(float(v), 0.0)) for v in b] for b in source.boxes(i)]))
        elif config.data.test_set == localization_train.FLICKR:
            boxes.append(localization_sets.read_flickr_boxes(os.path.join(
                localization_train._under_root(config.data, config.data.test_annotations), source.name(i) + ".xml")))
        else:
            boxes.append(None)
    return localization.save_overlays(images, ev["heatmap"][:n], os.path.join(workdir, "overlays"),
                                      names=[source.name(i) for i in idx], boxes=boxes)

