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


COMPUTE_DTYPES = ("float32", "bfloat16")


def add_trainer_defaults(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """The fields the trainer reads for every task: mesh, parameter sharding, precision, determinism."""
    c.mesh = [("data", -1), ("fsdp", 1)]
    c.sharding_rules = [("in", None), ("out", "fsdp")]
    # Tensors smaller than this (elements) stay replicated. At 2**18 the convs of the 128-wide
    # stages (3x3x128x128 = 147k) and R(2+1)D's temporal 3x256x256 (197k) stayed replicated, and
    # full CrissCross on fsdp=8 kept 17.5% of its state per device (ideal 12.5%); at 2**16
    # (256 KiB fp32) 13.8% (tests/test_fsdp.py). What stays replicated (BN, biases, stems, the
    # 64-wide stage) is 2% of the bytes: not worth an all-gather each (big_vision's fsdp tactic
    # has such a floor too).
    c.fsdp_min_size = 2**16
    c.compute_dtype = "float32"  # "bfloat16": backbones compute in bf16; params, BN stats, heads, loss fp32
    c.deterministic = False  # True: XLA_FLAGS += --xla_gpu_deterministic_ops=true (reproducible, slower GPU)
    return c


def compute_dtype(config):
    """`config.compute_dtype` as a jnp dtype. Configs saved before the field existed had
    `config.model.dtype` (float32 if neither is there); setting that one now is an error."""
    import jax.numpy as jnp
    legacy = config.get("model", {}).get("dtype")
    name = config.get("compute_dtype", legacy or "float32")
    if legacy is not None and legacy != name:
        raise ValueError(f"config.model.dtype={legacy!r} is no longer read: set config.compute_dtype instead")
    if name not in COMPUTE_DTYPES:
        raise ValueError(f"config.compute_dtype={name!r}: use one of {', '.join(COMPUTE_DTYPES)}")
    return jnp.dtype(name)


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
    add_trainer_defaults(c)
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


# ---------------------------------------------------------------------------------------------
# Downstream evaluations (methods/crisscross.md, section 6).
# ---------------------------------------------------------------------------------------------

# UCF101 / HMDB51 full finetuning, per (dataset, pretraining set, frames): SGD learning rate, gamma,
# milestones (epochs) and dropout, from evaluate/configs/downstream/{ucf101,hmdb51}/<pretraining>/
# full_ft_{8f,32f}_fold*.yaml. Kinetics-Sound and Kinetics-400 share a recipe.
FINETUNE_RECIPES = {
    ("ucf101", "kinetics", 8): dict(lr=5e-4, gamma=0.3, milestones=(6, 10, 14), dropout=0.0),
    ("ucf101", "kinetics", 32): dict(lr=7e-5, gamma=0.3, milestones=(8, 12, 16), dropout=0.0),
    ("ucf101", "audioset", 8): dict(lr=7e-5, gamma=0.1, milestones=(8, 12, 16), dropout=0.1),
    ("ucf101", "audioset", 32): dict(lr=7e-5, gamma=0.3, milestones=(8, 12, 16), dropout=0.0),
    ("hmdb51", "kinetics", 8): dict(lr=5e-4, gamma=0.1, milestones=(6, 10, 14), dropout=0.0),
    ("hmdb51", "kinetics", 32): dict(lr=1e-4, gamma=0.3, milestones=(8, 12, 16), dropout=0.0),
    ("hmdb51", "audioset", 8): dict(lr=1e-4, gamma=0.1, milestones=(8, 12, 16), dropout=0.5),
    ("hmdb51", "audioset", 32): dict(lr=1e-4, gamma=0.1, milestones=(6, 10, 14), dropout=0.5),
}
# Videos per split: (train, test) of splits 1, 2, 3.
FINETUNE_SIZES = {"ucf101": ((9537, 3783), (9586, 3734), (9624, 3696)),
                  "hmdb51": ((3570, 1530), (3570, 1530), (3570, 1530))}
FINETUNE_PRETRAINING = {"kinetics_sound": "kinetics", "kinetics400": "kinetics", "audioset": "audioset"}


def finetune_video_base() -> ml_collections.ConfigDict:
    """Full finetuning of the CrissCross video backbone (task finetune_video) at full size."""
    c = ml_collections.ConfigDict()
    c.task = "finetune_video"
    c.init_from = ""  # the pretraining workdir; "none": random init
    c.seed = 0
    c.total_steps = 1000
    c.batch_size = 32
    c.log_every = 50
    c.checkpoint_every = 1000
    c.keep_checkpoints = 2
    add_trainer_defaults(c)
    c.eval_every = 0
    c.eval_batch_size = 64
    c.profile_steps = ()
    c.debug_kill_at_step = 0

    c.data = ml_collections.ConfigDict()
    c.data.views = 1  # one random clip per video and step
    c.data.num_workers = 0
    c.data.num_threads = 2
    c.data.prefetch = 2

    c.video = ml_collections.ConfigDict()
    c.video.num_frames = 32
    c.video.fps = 16.0
    c.video.crop_size = 224
    c.video.crop_scale = (0.08, 1.0)
    # StrongTransforms without blur; the blur kernel would be crop // 20 * 2 + 1 = 23 at 224.
    c.video.aug = ml_collections.ConfigDict(dict(p_blur=0.0, blur_kernel_size=23, cutout_max_size=20,
                                                 cutout_multiply_quirk=False))
    c.audio = ml_collections.ConfigDict(dict(seconds=0.0, sample_rate=16000))  # video only

    c.model = ml_collections.ConfigDict()
    c.model.video_widths = (64, 128, 256, 512)
    c.model.video_blocks = (2, 2, 2, 2)
    c.model.pool = "max"  # AdaptiveMaxPool3d in the finetuning model
    c.model.dropout = 0.0

    c.optim = ml_collections.ConfigDict()
    c.optim.name = "sgd"
    c.optim.momentum = 0.9
    c.optim.weight_decay = 0.0
    c.optim.groups = [ml_collections.ConfigDict(dict(name="all", regex=".*", schedule="multistep", lr=1e-4,
                                                     gamma=0.1, milestones=()))]

    c.eval = ml_collections.ConfigDict()
    c.eval.evaluators = ("top1",)
    c.eval.splits = ("eval",)
    c.eval.clips_per_video = 10
    return c


def finetune_video(arg: str | None, dataset: str) -> ml_collections.ConfigDict:
    """UCF101 / HMDB51 finetuning. `arg`: split=1|2|3, frames=8|32, pretrain=kinetics_sound|
    kinetics400|audioset (picks the recipe), data=array_record|tfds, path=DIR, epochs=20."""
    import math

    from avjax.data import sources
    a = parse_arg(arg, split=1, frames=32, pretrain="kinetics400", data="array_record", path="", epochs=20)
    if a.split not in (1, 2, 3):
        raise ValueError(f"split={a.split}: {dataset} has the official splits 1, 2 and 3")
    if a.frames not in (8, 32):
        raise ValueError(f"frames={a.frames}: the recipes are for 8 (0.5 s) or 32 (2 s) frames")
    if a.pretrain not in FINETUNE_PRETRAINING:
        raise ValueError(f"pretrain={a.pretrain!r}: use one of {sorted(FINETUNE_PRETRAINING)}")
    recipe = FINETUNE_RECIPES[(dataset, FINETUNE_PRETRAINING[a.pretrain], a.frames)]
    c = finetune_video_base()
    num_classes = {"ucf101": 101, "hmdb51": 51}[dataset]
    sources.configure_stored(c.data, source=a.data, path=a.path, tfds_name=f"avjax_{dataset}",
                             num_classes=num_classes,
                             splits={"train": f"train{a.split}", "eval": f"test{a.split}"})
    c.data.views = 1
    c.data.num_workers = 8
    c.data.prefetch = 4
    c.video.num_frames = a.frames
    c.batch_size = 64 if a.frames == 8 else 32
    num_train = FINETUNE_SIZES[dataset][a.split - 1][0]
    steps_per_epoch = math.ceil(num_train * 10 / c.batch_size)  # an epoch: 10 random clips per video
    c.total_steps = a.epochs * steps_per_epoch
    c.checkpoint_every = steps_per_epoch
    c.eval_every = steps_per_epoch  # every epoch: the reference reports the best epoch (on the test split)
    c.model.dropout = recipe["dropout"]
    g = c.optim.groups[0]
    g.lr, g.gamma = recipe["lr"], recipe["gamma"]
    g.milestones = tuple(m * steps_per_epoch for m in recipe["milestones"])
    return c


def downstream_audio_base() -> ml_collections.ConfigDict:
    """Linear classifiers on frozen conv5x features of the CrissCross audio backbone."""
    c = ml_collections.ConfigDict()
    c.downstream = "audio_linear"  # run by avjax.downstream (not a training task)
    c.init_from = ""  # the pretraining workdir
    c.seed = 0
    c.mesh = [("data", -1), ("fsdp", 1)]
    c.eval_batch_size = 64

    c.data = ml_collections.ConfigDict()
    c.data.num_workers = 0
    c.data.num_threads = 4
    c.data.prefetch = 4

    # The log-mel front end (n_fft, hop, n_mels, sample rate) is the pretraining run's; only the clip
    # length and the training-feature augmentation are set here: StrongAug (volume jitter, masks,
    # random resize crop) with time warp on, as the reference's ESC-50 / DCASE feature extraction.
    c.audio = ml_collections.ConfigDict()
    c.audio.seconds = 2.0
    c.audio.aug = ml_collections.ConfigDict(dict(timewarp=True, warp_window=20))
    c.video = ml_collections.ConfigDict(dict(num_frames=1, fps=16.0, crop_size=8, crop_scale=(0.08, 1.0)))  # unused

    c.features = ml_collections.ConfigDict()
    c.features.pool_window = 3  # MaxPool2d((1, 3), stride (1, 2)) over the conv5x map, along time
    c.features.pool_stride = 2
    c.features.norm = "time"  # "time": L2 over the time axis before flattening (the reference's quirk)
    #                         # "flat": L2 over the flattened vector; "none"

    c.eval = ml_collections.ConfigDict()
    c.eval.folds = ("fold1", "fold2", "fold3", "fold4", "fold5")  # leave-one-fold-out over these parts
    c.eval.test_split = ""  # set: train on all `folds`, test on this split (one number)
    c.eval.train_clips_per_video = 100
    c.eval.test_clips_per_video = 10
    c.eval.train_augment = True

    c.classifier = ml_collections.ConfigDict()
    c.classifier.kind = "svm"  # "svm" (LinearSVC) | "linear" (a linear layer fitted with Adam)
    c.classifier.C = 1e-4
    c.classifier.C_sweep = ()  # e.g. (1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0): every C is reported
    c.classifier.max_iter = 1000
    c.classifier.epochs = 200
    c.classifier.batch_size = 512
    c.classifier.lr = 7e-3
    c.classifier.weight_decay = 1e-5
    c.classifier.dropout = 0.1
    return c


# ---------------------------------------------------------------------------------------------
# Sound source localization: SSPL (with / without PCM) and SACL (methods/localization_sspl_sacl.md).
# ---------------------------------------------------------------------------------------------

# Training lists (EZ-VSL's names; SSPL's own 10k / 144k lists are not released) and their sizes.
LOCALIZATION_TRAIN_LISTS = {"flickr10k": ("flickr_10k.txt", 10_000), "flickr144k": ("flickr_144k.txt", 144_000),
                            "vggsound10k": ("vggss_10k.txt", 10_000), "vggsound144k": ("vggss_144k.txt", 144_000)}
# Test sets: (id list, annotations, frame size: Flickr JPEGs are read as they are, VGG-SS's come
# from the 256 x 256 h5 of the official preparation).
LOCALIZATION_TEST_SETS = {"flickr": ("flickr_test249_in5k.csv", "test/Annotations", 0),
                          "vggss": ("vggss_test_4692.csv", "vggss_test_5158.json", 256)}
# Per method (section 5): optimiser groups (regex on the param path, lr, weight decay if not the
# global 1e-4), epochs, seed, the frozen encoder parts.
LOCALIZATION_RECIPES = {
    "sspl_pcm": dict(task="sspl", pcm=True, epochs=20, seed=1234, frozen=("frame_net", "sound_net"), groups=(
        ("sound_fc", r"^enc/sound_fc_", 2e-5, None), ("pcm_rates", r"^pcm_net/(a0|b0)_\d+$", 2e-5, 0.0),
        ("pcm", r"^pcm_net/", 2e-5, None), ("head", r"^(projector|predictor)/", 5e-5, None))),
    "sspl": dict(task="sspl", pcm=False, epochs=100, seed=1234, frozen=("frame_net", "sound_net"), groups=(
        ("sound_fc", r"^enc/sound_fc_", 5e-4, None), ("head", r"^(projector|predictor)/", 2e-3, None))),
    "sacl": dict(task="sacl", pcm=False, epochs=100, seed=12345, frozen=(), groups=(
        ("frame", r"^enc/frame_net/", 2e-4, None), ("sound", r"^enc/(sound_net|sound_fc_)", 2e-4, None))),
}


def localization_base(method: str = "sspl", pcm: bool = True, train_list: str = "flickr10k",
                      test_set: str = "flickr") -> ml_collections.ConfigDict:
    """SSPL (pcm=True/False) or SACL at full size with the official recipe, on folder data.

    Global batch 256 (SSPL 2 x 128, SACL 4 x 64 with the contrast per GPU: loss.contrast_batch 64),
    AdamW (0.9, 0.999), weight decay 1e-4, constant learning rates, an evaluation every epoch on
    the test set (the official code keeps the best test-set epoch; here every epoch is logged).
    """
    import math
    if method not in ("sspl", "sacl"):
        raise ValueError(f"method={method!r}: use sspl or sacl")
    if train_list not in LOCALIZATION_TRAIN_LISTS:
        raise ValueError(f"train_list={train_list!r}: use one of {sorted(LOCALIZATION_TRAIN_LISTS)}")
    if test_set not in LOCALIZATION_TEST_SETS:
        raise ValueError(f"test_set={test_set!r}: use one of {sorted(LOCALIZATION_TEST_SETS)}")
    recipe = LOCALIZATION_RECIPES["sspl_pcm" if method == "sspl" and pcm else method]
    c = ml_collections.ConfigDict()
    c.task = recipe["task"]
    c.seed = recipe["seed"]
    c.batch_size = 256
    steps_per_epoch = math.ceil(LOCALIZATION_TRAIN_LISTS[train_list][1] / c.batch_size)
    c.total_steps = recipe["epochs"] * steps_per_epoch
    c.log_every = 20
    c.checkpoint_every = steps_per_epoch
    c.keep_checkpoints = 3
    c.eval_every = steps_per_epoch
    c.eval_batch_size = 64
    add_trainer_defaults(c)
    c.profile_steps = ()
    c.debug_kill_at_step = 0

    test_list, annotations, test_frame_size = LOCALIZATION_TEST_SETS[test_set]
    c.data = ml_collections.ConfigDict()
    c.data.kind = "frame_audio"  # avjax.data.localization_train
    c.data.source = "folder"
    c.data.root = ""  # the dataset folder: every relative path below is under it
    c.data.train_list = train_list
    c.data.train_lists = {k: v[0] for k, v in LOCALIZATION_TRAIN_LISTS.items()}
    c.data.train_frames = "frames"  # <root>/frames/<id>.jpg (or <id>/*.jpg: the middle frame)
    c.data.train_audio = "audio"  # <root>/audio/<id><audio_ext>
    c.data.frame_ext = ".jpg"
    c.data.audio_ext = ".wav"  # any soundfile format, or .npz / .npy
    c.data.frame_size = 256  # frames resized to 256 x 256 (the official h5 preparation)
    c.data.sample_rate = 16000
    c.data.test_set = test_set
    c.data.test_list = test_list
    c.data.test_frames = "test/frames"
    c.data.test_audio = "test/audio"
    c.data.test_annotations = annotations
    c.data.test_frame_size = test_frame_size
    c.data.pseudo_mask = "felzenszwalb" if method == "sacl" else "none"  # SACL: "felzenszwalb" | "grid"
    c.data.grid_size = 1  # pseudo_mask "grid": the official --gridSize (1, 2, 4, 8)
    c.data.felzenszwalb = ml_collections.ConfigDict(dict(scale=1000.0, sigma=0.5, min_size=1000))
    c.data.mask_resize = "nearest"  # "bicubic": the official code's resize of the label mask (a quirk)
    c.data.num_workers = 8
    c.data.num_threads = 2
    c.data.prefetch = 4

    c.image = ml_collections.ConfigDict()
    c.image.crop_size = 224
    c.image.resize_factor = 1.1  # Resize(int(224 * 1.1) = 246) before the random crop
    c.image.train_resize = "square" if method == "sacl" else "short_side"
    c.image.test_resize = "square" if method == "sacl" else "short_side_center_crop"
    c.image.aug = ml_collections.ConfigDict(dict(
        enabled=method == "sacl", brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1, p_jitter=0.8,
        p_gray=0.2, p_blur=0.5, blur_kernel_size=23))  # PIL blurs by radius; 23 taps is torchvision's 224 rule

    c.audio = ml_collections.ConfigDict(dict(seconds=3.0, sample_rate=16000))

    c.model = ml_collections.ConfigDict()
    c.model.visual = "resnet18" if method == "sacl" else "vgg16"
    c.model.audio = "vggish"
    c.model.visual_weights = ""  # an `avjax import-weights` folder (ImageNet vgg16 / resnet18); "none": random
    c.model.audio_weights = ""  # the same for vggish (vggish-10086976.pth)
    c.model.frozen = recipe["frozen"]
    c.model.pcm = recipe["pcm"]
    c.model.cycs_pcm = 4
    c.model.out_dim = 512
    c.model.visual_dim = 512  # the tiny visual net's width (the pretrained ones have 512)
    c.model.tiny_visual_widths = (16, 32, 64)
    c.model.tiny_audio_widths = (16, 32, 64)
    c.model.proj_hidden = 2048
    c.model.proj_dim = 2048
    c.model.pred_hidden = 512

    c.loss = ml_collections.ConfigDict(dict(ratio_neg=0.75, ratio_retain_sim=0.5, temperature=0.005,
                                            contrast_batch=64))  # SACL

    c.optim = ml_collections.ConfigDict()
    c.optim.name = "adamw"
    c.optim.b1, c.optim.b2, c.optim.eps = 0.9, 0.999, 1e-8
    c.optim.weight_decay = 1e-4
    c.optim.groups = []
    for name, regex, lr, wd in recipe["groups"]:
        group = dict(name=name, regex=regex, schedule="constant", lr=lr)
        if wd is not None:
            group["weight_decay"] = wd
        c.optim.groups.append(ml_collections.ConfigDict(group))

    c.eval = ml_collections.ConfigDict()
    c.eval.evaluators = ("localization",)
    c.eval.splits = ("eval",)
    c.eval.protocol = "sspl"  # "ezvsl": EZ-VSL / FNAC's (median threshold, align_corners upsampling)
    c.eval.num_overlays = 16  # `avjax eval` writes this many heatmap overlays into WORKDIR/overlays
    return c


def localization_folder(arg: str | None, method: str, test_set: str) -> ml_collections.ConfigDict:
    """A real-data localization config: `arg` = train_list=flickr10k|flickr144k|vggsound10k|
    vggsound144k, pcm=True|False (SSPL), root=DIR."""
    default_list = "flickr10k" if test_set == "flickr" else "vggsound10k"
    a = parse_arg(arg, train_list=default_list, pcm=True, root="")
    c = localization_base(method, pcm=a.pcm, train_list=a.train_list, test_set=test_set)
    c.data.root = a.root
    return c
