"""Flax linen backbones and heads.

Each module lives in its own file (`r2plus1d`, `resnet`, `heads`, ...); nothing is imported
here eagerly. This file holds the helpers that the models share: parameter counting, PyTorch's
default initialisers, PyTorch-equivalent BatchNorm, global pooling and a max pool with a fast
backward on XLA CPU, so that models ported from PyTorch start and run as the official code does.
"""
from __future__ import annotations

import math
from typing import Sequence

import flax.linen as nn
import jax
import numpy as np

from avjax.sharding import BATCH_AXES


def constrain_batch(x: jax.Array) -> jax.Array:
    """Keep an activation split over its batch (dimension 0) on the mesh axes data and fsdp.

    Under fsdp, XLA otherwise moves the folded (2+1)D conv activations onto the channel axis
    (collective-permutes and all-to-alls in every block). Active only inside an abstract mesh
    context with both axes (the trainer's step and embed set one); a no-op elsewhere.
    """
    mesh = jax.sharding.get_abstract_mesh()
    if mesh.empty or not all(a in mesh.axis_names for a in BATCH_AXES):
        return x
    return jax.lax.with_sharding_constraint(x, jax.sharding.PartitionSpec(BATCH_AXES))


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


def batch_norm(train: bool, dtype, name: str) -> nn.BatchNorm:
    """PyTorch BatchNorm{1,2,3}d defaults: momentum 0.1 (Flax 0.9), eps 1e-5, scale 1, bias 0.

    No `axis_name`: under `jax.jit` with a globally sharded batch the statistics are global.
    """
    return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5, dtype=dtype,
                        param_dtype=jax.numpy.float32, name=name)


def max_pool(x, window: Sequence[int], strides: Sequence[int], padding: Sequence[tuple[int, int]]):
    """Max pooling (padding with -inf, as PyTorch) written as a max over shifted slices, one axis
    at a time. x: [B, *spatial, C]; window/strides/padding: one entry per spatial axis.

    Same forward as `nn.max_pool`; on XLA CPU its backward is several times faster than the
    select-and-scatter of `reduce_window`. On exact ties the gradient is shared between the tied
    inputs instead of going to one of them; after a ReLU the only ties in practice are zeros,
    whose gradient the ReLU discards either way.
    """
    for axis, (k, s, pad) in enumerate(zip(window, strides, padding), start=1):
        if k == 1 and s == 1 and tuple(pad) == (0, 0):
            continue
        n_out = (x.shape[axis] + pad[0] + pad[1] - k) // s + 1
        if tuple(pad) != (0, 0):
            widths = [(0, 0)] * x.ndim
            widths[axis] = tuple(pad)
            x = jax.numpy.pad(x, widths, constant_values=-jax.numpy.inf)
        slices = [jax.lax.slice_in_dim(x, d, d + s * (n_out - 1) + 1, s, axis) for d in range(k)]
        x = slices[0]
        for other in slices[1:]:
            x = jax.numpy.maximum(x, other)
    return x
