# avjax train --config configs/crisscross/kinetics_sound.py --workdir runs/crisscross_ks --config.data.path=/data/shards/kinetics_sound
"""CrissCross pretraining on Kinetics-Sound (32 classes, ~22K videos), from shards.

Make the shards once (from a Kinetics-400 download; only the 32 classes are kept):
    avjax convert --format kinetics_sound --src K400/videos --meta K400/annotations --out /data/shards/kinetics_sound
Arguments: data=array_record (default) | tfds (builder avjax_kinetics_sound); path=DIR.

The official repository ships only the Kinetics-400 config; the same recipe is used here (batch
2048, 100 epochs x 5 clips per video, warmup 2 epochs). The paper's Kinetics-Sound epochs and
learning rates are not known (see methods/crisscross.md, section 5).
"""
import math

from avjax import configs
from avjax.data import sources

NUM_VIDEOS = 22_000
EPOCHS, CLIPS_PER_VIDEO = 100, 5


def get_config(arg=None):
    arg = configs.parse_arg(arg, data="array_record", path="")
    c = configs.crisscross_base()
    sources.configure_stored(c.data, source=arg.data, path=arg.path, tfds_name="avjax_kinetics_sound",
                             num_classes=32, splits={"train": "train", "probe": "train[:5000]",
                                                     "eval": "val"})
    steps_per_epoch = math.ceil(NUM_VIDEOS * CLIPS_PER_VIDEO / c.batch_size)
    c.total_steps = EPOCHS * steps_per_epoch
    for g in c.optim.groups:
        if g.schedule == "warmup_cosine":
            g.warmup_steps = 2 * steps_per_epoch
    c.data.num_workers = 8
    c.data.num_threads = 2
    c.data.prefetch = 4
    c.checkpoint_every = 500
    c.eval.clips_per_video = 1
    return c
