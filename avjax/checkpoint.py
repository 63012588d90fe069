"""Orbax checkpoints: train state + data-iterator state + config, one step per folder.

`WORKDIR/checkpoints/<step>/{state,data,config}`. Saving is asynchronous and keeps the last
`keep` steps. Restoring always goes through an abstract target whose leaves carry the target
`NamedSharding`s, so a checkpoint written on one device count or mesh restores onto another.
The data item is Grain's own handler: one JSON state per process.
"""
from __future__ import annotations

import os
from typing import Any

import grain
import jax
import orbax.checkpoint as ocp


class Checkpointer:
    """Thin wrapper over `ocp.CheckpointManager`; use as a context manager or call `close()`."""

    def __init__(self, directory: str, keep: int = 3, save_every: int = 1000, async_save: bool = True):
        self.directory = os.path.abspath(directory)
        policy = ocp.checkpoint_managers.AnySavePolicy([
            ocp.checkpoint_managers.FixedIntervalPolicy(save_every),
            ocp.checkpoint_managers.PreemptionCheckpointingPolicy(),
        ])
        options = ocp.CheckpointManagerOptions(
            save_decision_policy=policy,
            preservation_policy=ocp.checkpoint_managers.LatestN(keep),
            enable_async_checkpointing=async_save,
            create=True,
        )
        self.manager = ocp.CheckpointManager(
            self.directory, options=options,
            item_handlers={"state": ocp.StandardCheckpointHandler(),
                           "data": grain.checkpoint.CheckpointHandler(),
                           "config": ocp.JsonCheckpointHandler()})

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def should_save(self, step: int) -> bool:
        return self.manager.should_save(step)

    def save(self, step: int, state: Any, data_iterator=None, config: dict | None = None,
             force: bool = False) -> bool:
        items = {"state": ocp.args.StandardSave(state)}
        if data_iterator is not None:
            items["data"] = grain.checkpoint.CheckpointSave(data_iterator)
        if config is not None:
            items["config"] = ocp.args.JsonSave(config)
        return self.manager.save(step, args=ocp.args.Composite(**items), force=force)

    def restore(self, abstract_state: Any, step: int | None = None, data_iterator=None) -> Any:
        """Restore the state onto the shardings carried by `abstract_state` (ShapeDtypeStructs).

        If `data_iterator` is given, its position is restored in place.
        """
        step = self.latest_step() if step is None else step
        if step is None:
            raise FileNotFoundError(f"no checkpoint in {self.directory}")
        items = {"state": ocp.args.StandardRestore(abstract_state)}
        if data_iterator is not None:
            items["data"] = grain.checkpoint.CheckpointRestore(data_iterator)
        restored = self.manager.restore(step, args=ocp.args.Composite(**items))
        return restored["state"]

    def restore_config(self, step: int | None = None) -> dict:
        step = self.latest_step() if step is None else step
        return self.manager.restore(step, args=ocp.args.Composite(config=ocp.args.JsonRestore()))["config"]

    def reached_preemption(self, step: int) -> bool:
        return self.manager.reached_preemption(step)

    def wait(self):
        self.manager.wait_until_finished()

    def close(self):
        self.manager.wait_until_finished()
        self.manager.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def abstract_with_shardings(abstract_tree: Any, shardings: Any) -> Any:
    """ShapeDtypeStructs that carry the target shardings (the restore target)."""
    return jax.tree.map(lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s),
                        abstract_tree, shardings)


# ---------------------------------------------------------------------------------------------
# Pretrained weights: part of another run's state (finetuning, frozen-feature evaluation).
# ---------------------------------------------------------------------------------------------

def latest_in_workdir(workdir: str, field: str = "config.init_from") -> tuple[str, int]:
    """(checkpoint directory, latest step) of a training workdir; FileNotFoundError naming `field`."""
    directory = os.path.join(os.path.abspath(workdir), "checkpoints")
    step = None
    if os.path.isdir(directory):  # (the manager would create a missing directory)
        with Checkpointer(directory) as ckpt:
            step = ckpt.latest_step()  # finalised checkpoints only, as a resumed run sees them
    if step is None:
        raise FileNotFoundError(f"{field}={workdir!r}: no checkpoint in {directory} (give the --workdir "
                                "of a finished pretraining run, e.g. `avjax train --config "
                                "configs/crisscross/kinetics400.py --workdir DIR`)")
    return directory, step


def saved_config(workdir: str, field: str = "config.init_from") -> tuple[dict, int]:
    """The config saved with the latest checkpoint of `workdir`, and that step."""
    directory, step = latest_in_workdir(workdir, field)
    with Checkpointer(directory) as ckpt:
        return ckpt.restore_config(step), step


def restore_partial(workdir: str, target: Any, field: str = "config.init_from") -> tuple[Any, int]:
    """Restore only the arrays named by `target` from the latest checkpoint of `workdir`.

    target: a nested dict mirroring part of the saved train state, e.g.
        {"params": {"video_backbone": ...}, "model_state": {"batch_stats": {"video_backbone": ...}}}
    with jax.ShapeDtypeStruct leaves that carry the target shardings. Every path must exist in
    the checkpoint with the same shape (else ValueError naming `field` and the first mismatch).
    Returns (the restored tree, the step).
    """
    directory, step = latest_in_workdir(workdir, field)
    path = os.path.join(directory, str(step), "state")
    checkpointer = ocp.PyTreeCheckpointer()
    saved = checkpointer.metadata(path).item_metadata.tree
    for keypath, want in jax.tree_util.tree_flatten_with_path(target)[0]:
        names = [k.key for k in keypath]
        node = saved
        for i, name in enumerate(names):
            if not isinstance(node, dict) or name not in node:
                have = sorted(node) if isinstance(node, dict) else []
                raise ValueError(f"{field}={workdir!r}: the checkpoint (step {step}) has no "
                                 f"{'/'.join(names[:i + 1])!r} (it has {have} there); is it a run of "
                                 "the method these weights are meant to come from?")
            node = node[name]
        if tuple(node.shape) != tuple(want.shape):
            raise ValueError(f"{field}={workdir!r}: {'/'.join(names)} is {tuple(node.shape)} in the "
                             f"checkpoint but {tuple(want.shape)} here: config.model must match the "
                             "pretraining run's model (widths, blocks)")
    restore_args = ocp.checkpoint_utils.construct_restore_args(target)
    restored = checkpointer.restore(path, args=ocp.args.PyTreeRestore(
        item=target, restore_args=restore_args, partial_restore=True))
    return restored, step
