"""Config files: `path/to/config.py:arg` plus `--config.field=value` overrides (big_vision style).

A config file defines `get_config(arg: str | None) -> ml_collections.ConfigDict`; `arg` is parsed
by `parse_arg` ("variant=tiny,data=synthetic"). Its first line is a comment with the command
that runs it.
"""
from __future__ import annotations

import ast
import importlib.util
import os

import ml_collections


def parse_arg(arg: str | None, **defaults) -> ml_collections.ConfigDict:
    """"variant=tiny,steps=10" -> ConfigDict(variant="tiny", steps=10), typed like the defaults."""
    out = dict(defaults)
    for item in filter(None, (arg or "").split(",")):
        key, _, value = item.partition("=")
        if key not in defaults:
            raise ValueError(f"config argument {key!r} is unknown; known: {sorted(defaults)}")
        default = defaults[key]
        out[key] = (value != "False" and value != "0") if isinstance(default, bool) and value else (
            type(default)(value) if default is not None and value else (value or True))
    return ml_collections.ConfigDict(out)


def load_config(spec: str) -> ml_collections.ConfigDict:
    """Load `configs/x.py:arg`; a relative path is tried from the cwd, then from the repository."""
    path, _, arg = spec.partition(":")
    candidates = [path, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), path)]
    found = next((p for p in candidates if os.path.isfile(p)), None)
    if found is None:
        raise FileNotFoundError(f"--config {spec}: no file {path!r} (give a path such as "
                                "configs/crisscross/synthetic.py:variant=tiny)")
    module_spec = importlib.util.spec_from_file_location(f"avjax_config_{abs(hash(found))}", found)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module.get_config(arg or None)


def _literal(value: str):
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return value


def apply_overrides(config: ml_collections.ConfigDict, overrides: list[str]) -> ml_collections.ConfigDict:
    """["--config.total_steps=10", "--config.optim.name", "adam"] -> config updated in place."""
    i = 0
    while i < len(overrides):
        item = overrides[i]
        if not item.startswith("--config."):
            raise ValueError(f"unknown argument {item!r}; overrides look like --config.field=value")
        key, eq, value = item[len("--config."):].partition("=")
        if not eq:
            if i + 1 >= len(overrides):
                raise ValueError(f"{item}: missing value")
            value, i = overrides[i + 1], i + 1
        node = config
        parts = key.split(".")
        for part in parts[:-1]:
            if part not in node:
                raise ValueError(f"--config.{key}: no field {part!r} in the config")
            node = node[part]
        if parts[-1] not in node:
            raise ValueError(f"--config.{key}: no field {parts[-1]!r}; known: {sorted(node.keys())}")
        old = node[parts[-1]]
        new = _literal(value)
        if isinstance(old, str) and not isinstance(new, str):
            new = value
        if isinstance(old, float) and isinstance(new, int) and not isinstance(new, bool):
            new = float(new)
        try:
            node[parts[-1]] = new
        except TypeError as e:
            raise ValueError(f"--config.{key}={value}: expected a value like {old!r} ({e})") from None
        i += 1
    return config


def crisscross_base() -> ml_collections.ConfigDict:
    """CrissCross at full size with the released pretraining settings (crisscross.yaml)."""
    c = ml_collections.ConfigDict()
    c.task = "crisscross"
    c.seed = 0
    c.total_steps = 10_000
    c.batch_size = 2048  # global: 1024 per node x 2 nodes in the released config
    c.log_every = 50
    c.checkpoint_every = 1000
    c.keep_checkpoints = 3
    c.mesh = [("data", -1), ("fsdp", 1)]
    c.sharding_rules = [("in", None), ("out", "fsdp")]
    c.fsdp_min_size = 2**18  # tensors smaller than this (elements) stay replicated
    c.eval_every = 0  # 0: evaluate only at the end
    c.eval_batch_size = 64
    c.profile_steps = ()  # (first, last): write a jax.profiler trace of these steps to WORKDIR/profile
    c.debug_kill_at_step = 0  # fault injection: SIGKILL the process after this step's checkpoint

    c.data = ml_collections.ConfigDict()
    c.data.source = "synthetic"
    c.data.temporal_scheme = "overlapped"
    c.data.num_workers = 0  # Grain worker processes (0: threads in this process)
    c.data.num_threads = 2
    c.data.prefetch = 2
    c.data.num_classes = 10

    c.video = ml_collections.ConfigDict()
    c.video.num_frames = 8  # 0.5 s at 16 fps
    c.video.fps = 16.0
    c.video.crop_size = 112
    c.video.crop_scale = (0.08, 1.0)
    c.video.aug = ml_collections.ConfigDict(dict(cutout_max_size=20, cutout_multiply_quirk=False))

    c.audio = ml_collections.ConfigDict()
    c.audio.seconds = 2.0
    c.audio.sample_rate = 16000
    c.audio.n_fft = 1024
    c.audio.hop_length = 160
    c.audio.n_mels = 80
    c.audio.aug = ml_collections.ConfigDict(dict(freq_width=10, time_width=20))

    c.model = ml_collections.ConfigDict()
    c.model.video_widths = (64, 128, 256, 512)
    c.model.video_blocks = (2, 2, 2, 2)
    c.model.audio_widths = (64, 128, 256, 512)
    c.model.audio_blocks = (2, 2, 2, 2)
    c.model.proj_hidden = 2048
    c.model.proj_dim = 2048
    c.model.proj_layers = 3
    c.model.pred_hidden = 512
    c.model.pre_norm = False
    c.model.dtype = "float32"

    c.loss = ml_collections.ConfigDict(dict(intra=True, synchronous=True, asynchronous=True,
                                            vid_coeff=1.0, aud_coeff=1.0, ct_coeff=1.0, cm_coeff=1.0))

    # Adam + LARC, four groups: backbone+projector warm up then cosine to a floor; predictors constant.
    c.optim = ml_collections.ConfigDict()
    c.optim.name = "adam_larc"
    c.optim.b1, c.optim.b2, c.optim.eps = 0.9, 0.999, 1e-8
    c.optim.momentum = 0.9
    c.optim.weight_decay = 1e-4
    c.optim.trust_coefficient = 1e-3
    c.optim.larc_clip = True
    warmup = 200  # 2 epochs of the real data; set from the dataset size in real configs
    c.optim.groups = [
        ml_collections.ConfigDict(dict(name="video_predictor", regex=r"^video_predictor/", schedule="constant",
                                       lr=2e-3)),
        ml_collections.ConfigDict(dict(name="audio_predictor", regex=r"^audio_predictor/", schedule="constant",
                                       lr=2e-3)),
        ml_collections.ConfigDict(dict(name="video", regex=r"^video_", schedule="warmup_cosine", lr=2e-4,
                                       final_lr=1e-4, warmup_steps=warmup, warmup_lr=0.0)),
        ml_collections.ConfigDict(dict(name="audio", regex=r"^audio_", schedule="warmup_cosine", lr=2e-4,
                                       final_lr=1e-4, warmup_steps=warmup, warmup_lr=0.0)),
    ]

    c.eval = ml_collections.ConfigDict()
    c.eval.evaluators = ("linear_probe", "knn", "retrieval")
    c.eval.retrieval_space = "predictor"
    return c


def crisscross_stored(arg: str | None, *, tfds_name: str, num_classes: int, splits: dict[str, str],
                      num_videos: int, epochs: int, checkpoint_every: int,
                      multi_label: bool = False) -> ml_collections.ConfigDict:
    """CrissCross at full size on shards (or TFDS): the released Kinetics-400 recipe.

    Global batch 2048, `epochs` x 5 clips per video (the official "epoch" visits every video
    clips_per_video = 5 times), 2 warmup epochs, Adam + LARC. `arg`: data=array_record|tfds, path=DIR.
    """
    import math

    from avjax.data import sources
    parsed = parse_arg(arg, data="array_record", path="")
    c = crisscross_base()
    sources.configure_stored(c.data, source=parsed.data, path=parsed.path, tfds_name=tfds_name,
                             num_classes=num_classes, multi_label=multi_label, splits=splits)
    steps_per_epoch = math.ceil(num_videos * 5 / c.batch_size)
    c.total_steps = epochs * steps_per_epoch
    for g in c.optim.groups:
        if g.schedule == "warmup_cosine":
            g.warmup_steps = 2 * steps_per_epoch
    c.data.num_workers = 8
    c.data.num_threads = 2
    c.data.prefetch = 4
    c.checkpoint_every = checkpoint_every
    c.eval.clips_per_video = 1
    return c
