"""Flax linen backbones and heads.

Each module lives in its own file (`r2plus1d`, `resnet`, `heads`, ...); nothing is imported
here eagerly. This file holds the few helpers that every model shares: parameter counting and
the PyTorch default initialisers (so that models ported from PyTorch start where the official
code starts).
"""
from __future__ import annotations

import math

import flax.linen as nn
import jax
import numpy as np


def count_params(params) -> int:
    """Number of scalars in a parameter pytree (boxed or not).

    Pass `variables["params"]` (or the output of `jax.eval_shape`) to count trainable parameters
    only; BatchNorm running statistics live in `variables["batch_stats"]`.
    """
    leaves = jax.tree_util.tree_leaves(nn.unbox(params))
    return int(sum(int(np.prod(leaf.shape)) for leaf in leaves))


def torch_default_kernel_init():
    """PyTorch's default init for `nn.Linear` / `nn.ConvNd` weights.

    `kaiming_uniform_(a=sqrt(5))` is U(-1/sqrt(fan_in), 1/sqrt(fan_in)), i.e. a variance of
    1/(3 fan_in). Flax kernels are laid out [..., in, out], which `variance_scaling`'s default
    `in_axis=-2, out_axis=-1` reads correctly (fan_in includes the receptive field).
    """
    return nn.initializers.variance_scaling(1.0 / 3.0, "fan_in", "uniform")


def torch_default_bias_init(fan_in: int):
    """PyTorch's default bias init: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0

    def init(key, shape, dtype=jax.numpy.float32):
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return init


def global_pool(x, pool, axes):
    """Pools a feature map over `axes`: "avg" or "max" -> [B, C] float32; None -> `x` as is.

    Pooling happens in float32 so that a bfloat16 feature map is averaged without loss.
    """
    if pool is None:
        return x
    if pool == "avg":
        return jax.numpy.mean(x.astype(jax.numpy.float32), axis=axes)
    if pool == "max":
        return jax.numpy.max(x.astype(jax.numpy.float32), axis=axes)
    raise ValueError(f"pool={pool!r}: expected 'avg', 'max' or None (the conv5 feature map).")
