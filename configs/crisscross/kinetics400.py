# avjax train --config configs/crisscross/kinetics400.py --workdir runs/crisscross_k400 --config.data.path=/data/shards/kinetics400
"""CrissCross pretraining on Kinetics-400 (the released config: crisscross.yaml), from shards.

Make the shards once:
    avjax convert --format kinetics --src K400/videos --meta K400/annotations --out /data/shards/kinetics400
Arguments: data=array_record (default) | tfds (then --config.data.path is the TFDS data_dir and
the builder is avjax_kinetics400); path=DIR sets config.data.path.

Full size: global batch 2048, 100 epochs of 240K videos x 5 clips each (the official "epoch"
visits every video clips_per_video = 5 times), warmup 2 epochs, Adam + LARC.
"""
import math

from avjax import configs
from avjax.data import sources

NUM_VIDEOS = 240_000  # Kinetics-400 train (the videos still online vary: the count sets the schedule only)
EPOCHS, CLIPS_PER_VIDEO = 100, 5


def get_config(arg=None):
    arg = configs.parse_arg(arg, data="array_record", path="")
    c = configs.crisscross_base()
    sources.configure_stored(c.data, source=arg.data, path=arg.path, tfds_name="avjax_kinetics400",
                             num_classes=400, splits={"train": "train", "probe": "train[:10000]",
                                                      "eval": "val[:5000]"})
    steps_per_epoch = math.ceil(NUM_VIDEOS * CLIPS_PER_VIDEO / c.batch_size)
    c.total_steps = EPOCHS * steps_per_epoch
    for g in c.optim.groups:
        if g.schedule == "warmup_cosine":
            g.warmup_steps = 2 * steps_per_epoch
    c.data.num_workers = 8
    c.data.num_threads = 2
    c.data.prefetch = 4
    c.checkpoint_every = 2000
    c.eval.clips_per_video = 1
    return c
