# avjax train --config configs/crisscross/vggsound.py --workdir runs/crisscross_vggsound --config.data.path=/data/shards/vggsound
"""CrissCross pretraining on VGGSound (~200K 10-s clips, 309 classes), from shards.

Make the shards once:
    avjax convert --format vggsound --src VGGSound/videos --meta VGGSound/vggsound.csv --out /data/shards/vggsound
Arguments: data=array_record (default) | tfds (builder avjax_vggsound); path=DIR.

The Kinetics-400 recipe (batch 2048, 100 epochs x 5 clips per video, warmup 2 epochs); CrissCross
did not pretrain on VGGSound, so these settings are this library's choice.
"""
import math

from avjax import configs
from avjax.data import sources

NUM_VIDEOS = 183_000  # VGGSound train clips still online (the count sets the schedule only)
EPOCHS, CLIPS_PER_VIDEO = 100, 5


def get_config(arg=None):
    arg = configs.parse_arg(arg, data="array_record", path="")
    c = configs.crisscross_base()
    sources.configure_stored(c.data, source=arg.data, path=arg.path, tfds_name="avjax_vggsound",
                             num_classes=309, splits={"train": "train", "probe": "train[:10000]",
                                                      "eval": "test[:5000]"})
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
