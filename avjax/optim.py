"""Optimisers: parameter groups by regex, each with its own schedule, and the LARC trust ratio.

CrissCross (`train/optimizers/larc.py`, `lr_scheduler.py::CosineLRAV2`) wraps Adam in LARC and uses
four parameter groups: video backbone+projector, video predictor, audio backbone+projector, audio
predictor. The backbone groups warm up linearly and then follow a cosine to a floor; the
predictors keep a constant learning rate.

Config (`config.optim`):
    name: "adam_larc" | "adam" | "adamw" | "sgd"
    b1, b2, eps, momentum, weight_decay, trust_coefficient, larc_clip
    groups: list of dict(name, regex, schedule, lr, final_lr, warmup_steps, warmup_lr
                         | gamma, milestones; optional weight_decay overriding the global one)
            matched first-wins against the parameter path "a/b/c"; every parameter must match one.
    schedules: "constant"; "warmup_cosine" (CosineLRAV2); "multistep" (PyTorch MultiStepLR:
            lr * gamma^(number of milestones, in steps, reached), the finetuning recipes).
"""
from __future__ import annotations

import re
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import traverse_util

Schedule = Callable[[jax.Array], jax.Array]


def warmup_cosine(lr: float, final_lr: float, warmup_steps: int, total_steps: int,
                  warmup_lr: float = 0.0) -> Schedule:
    """CosineLRAV2: `linspace(warmup_lr, lr, W)` for W steps, then `final + (lr-final)(1+cos(pi i/D))/2`.

    The warmup includes its end point (numpy linspace), and the cosine runs over D = total - W
    steps and ends at `final_lr`, not 0.
    """
    decay_steps = max(total_steps - warmup_steps, 1)

    def schedule(step):
        step = jnp.asarray(step, jnp.float32)
        warm = warmup_lr + (lr - warmup_lr) * step / max(warmup_steps - 1, 1)
        i = jnp.clip(step - warmup_steps, 0, decay_steps)
        cos = final_lr + 0.5 * (lr - final_lr) * (1 + jnp.cos(jnp.pi * i / decay_steps))
        return jnp.where(step < warmup_steps, warm, cos)

    return schedule


def multistep(lr: float, gamma: float, milestones) -> Schedule:
    """PyTorch MultiStepLR: `lr * gamma ** #{m in milestones : step >= m}` (milestones in steps)."""
    bounds = jnp.asarray(sorted(int(m) for m in milestones) or [2**31 - 1], jnp.int32)

    def schedule(step):
        passed = jnp.sum(jnp.asarray(step, jnp.int32) >= bounds)
        return lr * jnp.asarray(gamma, jnp.float32) ** passed

    return schedule


def make_schedule(group: dict, total_steps: int) -> Schedule:
    kind = group.get("schedule", "constant")
    if kind == "constant":
        return optax.constant_schedule(group["lr"])
    if kind == "warmup_cosine":
        return warmup_cosine(group["lr"], group.get("final_lr", 0.0), group.get("warmup_steps", 0),
                             total_steps, group.get("warmup_lr", 0.0))
    if kind == "multistep":
        return multistep(group["lr"], group.get("gamma", 0.1), group.get("milestones", ()))
    raise ValueError(f"config.optim.groups[{group.get('name')}].schedule={kind!r}: "
                     "use 'constant', 'warmup_cosine' or 'multistep'")


class LarcState(NamedTuple):
    count: jax.Array


def larc(learning_rate: Schedule, trust_coefficient: float = 1e-3, weight_decay: float = 0.0,
         eps: float = 1e-8, clip: bool = True) -> optax.GradientTransformation:
    """LARC (apex / CrissCross `larc.py`), applied to the gradient before the wrapped optimiser.

    Per tensor w with gradient g, when ||w|| > 0 and ||g|| > 0:
        r = trust * ||w|| / (||g|| + wd ||w|| + eps);  r = min(r / lr, 1) if clip
        g <- (g + wd * w) * r
    otherwise g is left as it is (and no weight decay is added). With lr = 0 (first warmup step)
    r / lr is +inf and clips to 1, as in PyTorch.
    """

    def init_fn(params):
        del params
        return LarcState(count=jnp.zeros([], jnp.int32))

    def update_fn(updates, state, params):
        lr = learning_rate(state.count)

        def one(g, w):
            w = w.astype(jnp.float32)
            g32 = g.astype(jnp.float32)
            w_norm = jnp.linalg.norm(w.ravel())
            g_norm = jnp.linalg.norm(g32.ravel())
            ratio = trust_coefficient * w_norm / (g_norm + w_norm * weight_decay + eps)
            if clip:
                ratio = jnp.where(lr > 0, jnp.minimum(ratio / jnp.maximum(lr, 1e-30), 1.0), 1.0)
            scaled = (g32 + weight_decay * w) * ratio
            active = (w_norm > 0) & (g_norm > 0)
            return jnp.where(active, scaled, g32).astype(g.dtype)

        updates = jax.tree.map(one, updates, params)
        return updates, LarcState(count=optax.safe_increment(state.count))

    return optax.GradientTransformation(init_fn, update_fn)


def _group_optimizer(optim_cfg, schedule: Schedule) -> optax.GradientTransformation:
    name = optim_cfg.name
    if name == "adam_larc":
        return optax.chain(
            larc(schedule, optim_cfg.trust_coefficient, optim_cfg.weight_decay, 1e-8, optim_cfg.larc_clip),
            optax.scale_by_adam(optim_cfg.b1, optim_cfg.b2, optim_cfg.eps),
            optax.scale_by_learning_rate(schedule))
    if name == "adam":  # PyTorch Adam: L2 weight decay added to the gradient
        return optax.chain(optax.add_decayed_weights(optim_cfg.weight_decay),
                           optax.scale_by_adam(optim_cfg.b1, optim_cfg.b2, optim_cfg.eps),
                           optax.scale_by_learning_rate(schedule))
    if name == "adamw":  # PyTorch AdamW: decoupled weight decay, lr * wd * w (SSPL / SACL)
        return optax.chain(optax.scale_by_adam(optim_cfg.b1, optim_cfg.b2, optim_cfg.eps),
                           optax.add_decayed_weights(optim_cfg.weight_decay),
                           optax.scale_by_learning_rate(schedule))
    if name == "sgd":
        return optax.chain(optax.add_decayed_weights(optim_cfg.weight_decay),
                           optax.trace(decay=optim_cfg.momentum),
                           optax.scale_by_learning_rate(schedule))
    raise ValueError(f"config.optim.name={name!r}: use 'adam_larc', 'adam', 'adamw' or 'sgd'")


def _with_weight_decay(optim_cfg, group: dict):
    if "weight_decay" not in group:
        return optim_cfg
    out = optim_cfg.copy_and_resolve_references()
    out.weight_decay = group["weight_decay"]
    return out


def group_labels(params, groups) -> Any:
    """Name of the first group whose regex matches each parameter's path ("video_backbone/stem/kernel")."""
    flat = traverse_util.flatten_dict(params, sep="/")
    compiled = [(g["name"], re.compile(g["regex"])) for g in groups]
    labels = {}
    for path in flat:
        for name, rx in compiled:
            if rx.search(path):
                labels[path] = name
                break
        else:
            raise ValueError(f"parameter {path!r} matches no config.optim.groups regex; "
                             "add a group (e.g. regex '.*') to cover it")
    return traverse_util.unflatten_dict(labels, sep="/")


def make_optimizer(optim_cfg, total_steps: int, params) -> tuple[optax.GradientTransformation, dict]:
    """The optax transformation and the {group name: schedule} dict (schedules are logged)."""
    groups = [dict(g) for g in optim_cfg.groups]
    schedules = {g["name"]: make_schedule(g, total_steps) for g in groups}
    # A group may set its own weight_decay (SSPL: the PCM's rates have none).
    transforms = {g["name"]: _group_optimizer(_with_weight_decay(optim_cfg, g), schedules[g["name"]])
                  for g in groups}
    labels = group_labels(params, groups)
    return optax.multi_transform(transforms, labels), schedules


def global_norm(tree) -> jax.Array:
    return jnp.sqrt(sum(jnp.sum(jnp.square(x.astype(jnp.float32))) for x in jax.tree.leaves(tree)))

