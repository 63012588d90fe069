"""Meshes, parameter/state shardings, and host batches -> global jax.Arrays.

The mesh has two axes, `data` and `fsdp` (`config.mesh = [("data", -1), ("fsdp", 1)]`, one size
may be -1 = the remaining devices). The batch is split over both axes. Parameters and optimizer
state carry logical axis names (`nn.with_logical_partitioning` in the models); `config.sharding_rules`
maps them to mesh axes, and a tensor is only split when it is at least
`config.fsdp_min_size` elements and its dimension divides evenly; otherwise it is replicated.
"""
from __future__ import annotations

import logging
import math
from typing import Any, Sequence

import flax.linen as nn
import jax
import numpy as np
from jax.experimental import mesh_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

BATCH_AXES = ("data", "fsdp")


def mesh_shape(spec: Sequence[tuple[str, int]], num_devices: int) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """Resolve one -1 in `[("data", -1), ("fsdp", 2)]` against the device count."""
    names = tuple(str(n) for n, _ in spec)
    sizes = [int(s) for _, s in spec]
    if sizes.count(-1) > 1:
        raise ValueError(f"config.mesh={list(spec)}: at most one axis may be -1")
    known = math.prod(s for s in sizes if s != -1)
    if -1 in sizes:
        if num_devices % known:
            raise ValueError(f"config.mesh={list(spec)}: {num_devices} devices do not divide by {known}")
        sizes[sizes.index(-1)] = num_devices // known
    if math.prod(sizes) != num_devices:
        raise ValueError(f"config.mesh={list(spec)} needs {math.prod(sizes)} devices, "
                         f"{num_devices} are present; use -1 for one axis")
    return names, tuple(sizes)


def make_mesh(spec: Sequence[tuple[str, int]], devices=None) -> Mesh:
    """A mesh over `devices` (default: all). A spec with no -1 that names fewer devices than are
    present uses the first ones (with a warning), so tests can pin a device count."""
    devices = list(jax.devices() if devices is None else devices)
    if all(int(s) != -1 for _, s in spec) and math.prod(int(s) for _, s in spec) < len(devices):
        n = math.prod(int(s) for _, s in spec)
        logging.warning("config.mesh=%s uses %d of the %d devices", list(spec), n, len(devices))
        devices = devices[:n]
    names, sizes = mesh_shape(spec, len(devices))
    for axis in BATCH_AXES:
        if axis not in names:
            raise ValueError(f"config.mesh={list(spec)} must name the axes {BATCH_AXES}")
    grid = mesh_utils.create_device_mesh(sizes, devices=devices, allow_split_physical_axes=True)
    return Mesh(grid, names)


def batch_sharding(mesh: Mesh) -> NamedSharding:
    """Leading (batch) dimension split over every data-parallel axis."""
    return NamedSharding(mesh, P(BATCH_AXES))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P())


def _fit_spec(spec: P, shape: tuple[int, ...], mesh: Mesh, min_size: int) -> P:
    """Drop mesh axes that don't divide their dimension, and everything for small tensors."""
    if math.prod(shape) < min_size:
        return P()
    out = []
    for dim, axes in zip(shape, tuple(spec) + (None,) * (len(shape) - len(spec))):
        names = (axes,) if isinstance(axes, str) else tuple(axes or ())
        size = math.prod(mesh.shape[a] for a in names)
        out.append(axes if names and size > 1 and dim % size == 0 else None)
    return P(*out)


def _path(keypath) -> tuple[str, ...]:
    return tuple(str(getattr(k, "key", getattr(k, "name", getattr(k, "idx", k)))) for k in keypath)


def state_shardings(abstract_state: Any, boxed_params: Any, mesh: Mesh, rules: Sequence[tuple[str, Any]],
                    min_size: int) -> Any:
    """NamedShardings for every leaf of the (abstract, unboxed) train state.

    Parameters get their logical axes (from `boxed_params`) mapped through `rules`; optimizer-state
    leaves that mirror a parameter (Adam's mu and nu: same shape, key path ending in the
    parameter's path) get the parameter's sharding; everything else is replicated.
    """
    logical = nn.get_partition_spec(boxed_params)
    mesh_specs = nn.logical_to_mesh(logical, [tuple(r) for r in rules])
    flat_specs = {_path(kp): spec for kp, spec in
                  jax.tree_util.tree_flatten_with_path(mesh_specs, is_leaf=lambda x: isinstance(x, P))[0]}
    flat_shapes = {_path(kp): x.shape for kp, x in jax.tree_util.tree_flatten_with_path(nn.unbox(boxed_params))[0]}

    def leaf_sharding(keypath, x):
        path = _path(keypath)
        for start in range(len(path)):
            tail = path[start:]
            if tail in flat_specs and flat_shapes[tail] == x.shape:
                return NamedSharding(mesh, _fit_spec(flat_specs[tail], x.shape, mesh, min_size))
        return NamedSharding(mesh, P())

    return jax.tree_util.tree_map_with_path(leaf_sharding, abstract_state)


def host_batch_to_global(batch: dict[str, np.ndarray], mesh: Mesh) -> dict[str, jax.Array]:
    """Each process passes its own slice of the global batch; returns global arrays."""
    sharding = batch_sharding(mesh)
    return {k: jax.make_array_from_process_local_data(sharding, np.asarray(v)) for k, v in batch.items()}


def per_process_batch_size(global_batch: int, mesh: Mesh) -> int:
    n_data = math.prod(mesh.shape[a] for a in BATCH_AXES)
    if global_batch % n_data:
        raise ValueError(f"config.batch_size={global_batch} must divide by the {n_data} data-parallel "
                         f"devices of the mesh {dict(mesh.shape)}")
    if global_batch % jax.process_count():
        raise ValueError(f"config.batch_size={global_batch} must divide by {jax.process_count()} processes")
    return global_batch // jax.process_count()
