# avjax train --config configs/crisscross/audioset.py --workdir runs/crisscross_audioset --config.data.path=/data/shards/audioset
"""CrissCross pretraining on AudioSet (~1.8M 10-s clips, 527 classes, multi-label), from shards.

Make the shards once:
    avjax convert --format audioset --src AudioSet/videos --meta AudioSet/csv --out /data/shards/audioset
("train" is the alias balanced_train + unbalanced_train the manifest defines.)
Arguments: data=array_record (default) | tfds (builder avjax_audioset); path=DIR.

Batches carry `labels`: float32 [B, 527] multi-hot (config.data.multi_label); `label` is a
clip's first label. The official repository ships only the Kinetics-400 recipe; it is reused
(batch 2048, warmup 2 epochs, 5 clips per video); 40 epochs keep the step count comparable to
the paper's setting, which is not known (methods/crisscross.md, section 5).
"""
import math

from avjax import configs
from avjax.data import sources

NUM_VIDEOS = 1_800_000
EPOCHS, CLIPS_PER_VIDEO = 40, 5


def get_config(arg=None):
    arg = configs.parse_arg(arg, data="array_record", path="")
    c = configs.crisscross_base()
    sources.configure_stored(c.data, source=arg.data, path=arg.path, tfds_name="avjax_audioset",
                             num_classes=527, multi_label=True,
                             splits={"train": "train", "probe": "balanced_train[:10000]", "eval": "eval[:5000]"})
    steps_per_epoch = math.ceil(NUM_VIDEOS * CLIPS_PER_VIDEO / c.batch_size)
    c.total_steps = EPOCHS * steps_per_epoch
    for g in c.optim.groups:
        if g.schedule == "warmup_cosine":
            g.warmup_steps = 2 * steps_per_epoch
    c.data.num_workers = 8
    c.data.num_threads = 2
    c.data.prefetch = 4
    c.checkpoint_every = 5000
    c.eval.clips_per_video = 1
    return c
