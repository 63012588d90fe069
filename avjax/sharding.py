"""Meshes, parameter/state shardings, and host batches -> global jax.Arrays.

The mesh has two axes, `data` and `fsdp` (`config.mesh = [("data", -1), ("fsdp", 1)]`, one size
may be -1 = the remaining devices). The batch is split over both axes. Parameters and optimizer
state carry logical axis names (`nn.with_logical_partitioning` in the models); `config.sharding_rules`
maps them to mesh axes, and a tensor is only split when it is at least
`config.fsdp_min_size` elements and its dimension divides evenly; otherwise it is replicated.

Several hosts: `initialize_distributed` joins the processes of a job (`jax.distributed`) before
any other JAX call; `avjax train/eval` call it first. See `launch/` for the launchers.
"""
from __future__ import annotations

import glob
import itertools
import logging
import math
import os
import re
import socket
import sys
import threading
import time
import urllib.request
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


# ---------------------------------------------------------------------------------------------
# Several processes (hosts): jax.distributed, configured from the arguments or the environment.
# ---------------------------------------------------------------------------------------------

class DistributedInitError(RuntimeError):
    """The processes of a multi-host job could not join (one clear line: what and what to check)."""


_INITIALIZED = {"done": False}
_TPU_METADATA = "http://metadata.google.internal/computeMetadata/v1/instance/attributes/"


def slurm_first_host(nodelist: str) -> str:
    """The first host of a SLURM node list: "gpu[003-010,012],login1" -> "gpu003"."""
    first = re.match(r"[^,\[]*(\[[^\]]*\])?[^,]*", nodelist.strip()).group(0)
    m = re.match(r"([^\[]*)\[([^\]]*)\](.*)", first)
    if not m:
        return first
    prefix, ranges, suffix = m.groups()
    return prefix + re.split(r"[-,]", ranges)[0] + suffix


def slurm_coordinator() -> str | None:
    """The job's first node; the port is AVJAX_COORDINATOR_PORT, else derived from SLURM_JOB_ID
    (the same on every task of the job). launch/slurm.sh asks this function too."""
    nodelist = os.environ.get("SLURM_JOB_NODELIST") or os.environ.get("SLURM_NODELIST")
    if not nodelist:
        return None
    port = os.environ.get("AVJAX_COORDINATOR_PORT") or str(61440 + int(os.environ.get("SLURM_JOB_ID", "0")) % 4096)
    return f"{slurm_first_host(nodelist)}:{port}"


def _tpu_hosts() -> int:
    """How many hosts this Cloud TPU slice has (0: not on a TPU VM). TPU_WORKER_HOSTNAMES (GKE,
    or set by launch/tpu_pod.sh), else the TPU VM's metadata server (only asked on a host with
    Google TPU chips, with a 2 s timeout)."""
    hosts = os.environ.get("TPU_WORKER_HOSTNAMES") or os.environ.get("TPU_PROCESS_ADDRESSES")
    if hosts:
        return len([h for h in hosts.split(",") if h.strip()])
    google_pci = False
    for path in glob.glob("/sys/bus/pci/devices/*/vendor"):
        try:
            with open(path) as f:
                google_pci |= f.read().strip() == "0x1ae0"
        except OSError:
            pass
    if not google_pci:
        return 0
    request = urllib.request.Request(_TPU_METADATA + "worker-network-endpoints",
                                     headers={"Metadata-Flavor": "Google"})
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return len([h for h in response.read().decode().split(",") if h.strip()])
    except OSError:
        return 1


def _int_or_none(value, name: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{name}={value!r}: expected an integer") from None


def initialize_distributed(coordinator: str | None = None, num_processes: int | None = None,
                           process_id: int | None = None, timeout_s: int = 300,
                           error_prefix: str = "avjax") -> bool:
    """Join the other processes of a multi-host job; call before any other JAX call.

    Returns True if `jax.distributed` was initialized, False for a single process. Each value is
    taken from the first source that has it:

    1. the arguments (`avjax train --coordinator HOST:PORT --num_processes N --process_id I`), then
       the environment variables AVJAX_COORDINATOR, AVJAX_NUM_PROCESSES, AVJAX_PROCESS_ID
       (a HOST without a port takes AVJAX_COORDINATOR_PORT, default 61440);
    2. SLURM (SLURM_NTASKS > 1): count SLURM_NTASKS, rank SLURM_PROCID, coordinator the first host
       of SLURM_JOB_NODELIST at port AVJAX_COORDINATOR_PORT (default 61440 + SLURM_JOB_ID % 4096).
       One task per node uses all the node's GPUs; with more tasks than nodes, task SLURM_LOCALID
       uses GPU SLURM_LOCALID;
    3. a Cloud TPU VM of a multi-host slice (or AVJAX_DISTRIBUTED=tpu): `jax.distributed.initialize`
       with no arguments; JAX finds the peers itself.

    With one process (no count, or a count of 1) nothing is done. A process that cannot join within
    `timeout_s` seconds raises `DistributedInitError` naming the coordinator and what to check
    (a process the coordinator must wait for all others on prints that line, prefixed with
    `error_prefix`, and exits with status 2: JAX would abort it otherwise). Never hangs.
    """
    if _INITIALIZED["done"]:
        return True
    env = os.environ
    coordinator = coordinator or env.get("AVJAX_COORDINATOR") or None
    num_processes = _int_or_none(num_processes if num_processes is not None else env.get("AVJAX_NUM_PROCESSES"),
                                 "--num_processes")
    process_id = _int_or_none(process_id if process_id is not None else env.get("AVJAX_PROCESS_ID"),
                              "--process_id")
    slurm_tasks = _int_or_none(env.get("SLURM_NTASKS"), "SLURM_NTASKS")
    if slurm_tasks and slurm_tasks > 1:
        num_processes = num_processes if num_processes is not None else slurm_tasks
        process_id = process_id if process_id is not None else _int_or_none(env.get("SLURM_PROCID"), "SLURM_PROCID")
        coordinator = coordinator or slurm_coordinator()
    if coordinator and ":" not in coordinator:
        coordinator = f"{coordinator}:{env.get('AVJAX_COORDINATOR_PORT', '61440')}"
    if coordinator and not re.fullmatch(r"\S+:\d+", coordinator):
        raise ValueError(f"--coordinator {coordinator!r}: expected HOST:PORT, e.g. 10.0.0.2:61440")

    kwargs = {}
    if num_processes is None and coordinator is None and process_id is None:
        if env.get("AVJAX_DISTRIBUTED") != "tpu" and _tpu_hosts() <= 1:
            return False  # one process: nothing to join
        where = "the TPU slice's coordinator (found from the TPU metadata)"
    else:
        if num_processes is None or num_processes < 1:
            raise ValueError("--num_processes: give the number of processes of the job "
                             f"(got {num_processes}; coordinator {coordinator}, process id {process_id})")
        if num_processes == 1:
            return False
        missing = [flag for flag, v in (("--coordinator HOST:PORT", coordinator), ("--process_id", process_id))
                   if v is None]
        if missing:
            raise ValueError(f"--num_processes={num_processes} also needs {' and '.join(missing)} "
                             "(or AVJAX_COORDINATOR / AVJAX_PROCESS_ID, or run under SLURM)")
        if not 0 <= process_id < num_processes:
            raise ValueError(f"--process_id={process_id}: must be in [0, {num_processes})")
        # Everything is given: no auto-detection (under SLURM it would hide all GPUs but one of a
        # one-task-per-node job). Several tasks per node (one per GPU): task SLURM_LOCALID's GPU.
        kwargs.update(coordinator_address=coordinator, num_processes=num_processes, process_id=process_id,
                      cluster_detection_method="deactivate")
        nodes = _int_or_none(env.get("SLURM_JOB_NUM_NODES") or env.get("SLURM_NNODES"), "SLURM_NNODES")
        if slurm_tasks and nodes and slurm_tasks > nodes and env.get("SLURM_LOCALID"):
            kwargs["local_device_ids"] = [int(env["SLURM_LOCALID"])]
        where = f"the coordinator {coordinator} as process {process_id} of {num_processes}"
        # CPU processes exchange collectives through gloo (GPUs and TPUs do not use this).
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    advice = ("Check that every process was started with the same coordinator and process count and "
              "its own process id, that process 0 is running (it hosts the coordinator), and that the "
              "coordinator's host name resolves and its port is open from this host (firewall).")
    logging.info("jax.distributed: joining %s (timeout %d s)", where, timeout_s)
    deadline = time.monotonic() + timeout_s
    if kwargs.get("process_id"):  # not the coordinator's host: is it there at all? (a clear error, no abort)
        _wait_for_port(coordinator, deadline, f"could not join {where} within {timeout_s} s", advice)
    # JAX aborts the process (no exception) when the others do not join in time; a watchdog that
    # fires first replaces that by one clear line and exit status 2.
    joined = threading.Event()

    def expire():
        if not joined.is_set():
            sys.stderr.write(f"{error_prefix}: error: could not join {where} within {timeout_s} s: "
                             f"not all processes joined. {advice}\n")
            sys.stderr.flush()
            os._exit(2)

    watchdog = threading.Timer(max(deadline - time.monotonic(), 1.0), expire)
    watchdog.daemon = True
    watchdog.start()
    try:
        jax.distributed.initialize(**kwargs, initialization_timeout=int(timeout_s) + 30)
    except Exception as e:  # noqa: BLE001 (XlaRuntimeError, RuntimeError, ValueError from jax)
        _shutdown_quietly()
        first = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise DistributedInitError(f"could not join {where} ({first}). {advice}") from None
    finally:
        joined.set()
        watchdog.cancel()
    _INITIALIZED["done"] = True
    return True


def _wait_for_port(address: str, deadline: float, what: str, advice: str) -> None:
    """Try to open a TCP connection to HOST:PORT until `deadline` (process 0 may start later)."""
    host, _, port = address.rpartition(":")
    host = host.strip("[]")
    reason = "no answer"
    while True:
        try:
            with socket.create_connection((host, int(port)), timeout=max(min(deadline - time.monotonic(), 5), 0.1)):
                return
        except socket.gaierror:
            reason = f"the host name {host!r} does not resolve"
        except OSError as e:
            reason = f"nothing answers at port {port} ({e.strerror or type(e).__name__})"
        if time.monotonic() >= deadline:
            raise DistributedInitError(f"{what}: {reason}. {advice}")
        time.sleep(min(1.0, max(deadline - time.monotonic(), 0)))


def _shutdown_quietly() -> None:
    """Drop a half-made distributed client so that exiting does not wait on it."""
    try:
        jax.distributed.shutdown()
    except Exception:  # noqa: BLE001
        pass


_BARRIERS = itertools.count()


def sync_processes(name: str, timeout_s: int = 1800) -> None:
    """Wait until every process has got here: a barrier of the coordination service (not a
    collective, so it has its own timeout). Does nothing with one process."""
    if jax.process_count() == 1:
        return
    from orbax.checkpoint import multihost
    multihost.get_barrier_sync_fn()(key=f"avjax_{name}_{next(_BARRIERS)}", timeout_ms=timeout_s * 1000)


def compiled_together(jitted, *args, name: str):
    """`jitted` compiled for `args`, returned once every process has compiled it (one process:
    `jitted` itself, compiled at its first call).

    With several processes a compile that hits the persistent cache can be minutes ahead of one
    that does not, and the first collective would wait for the late process only so long (CPU
    collectives, gloo: 30 s); so all compile first, meet, then run.
    """
    if jax.process_count() == 1:
        return jitted
    compiled = jitted.lower(*args).compile()
    sync_processes(f"compiled_{name}")
    return compiled
