# avjax train --config configs/crisscross/kinetics_sound.py --workdir runs/crisscross_ks --config.data.path=/data/shards/kinetics_sound
"""CrissCross pretraining on Kinetics-Sound (32 classes, ~22K videos), from shards.

Make the shards once (from a Kinetics-400 download; only the 32 classes are kept):
    avjax convert --format kinetics_sound --src K400/videos --meta K400/annotations --out /data/shards/kinetics_sound
Arguments: data=array_record (default) | tfds (builder avjax_kinetics_sound); path=DIR.

The official repository ships only the Kinetics-400 config; the same recipe is used here (batch
2048, 100 epochs x 5 clips per video, warmup 2 epochs). The paper's Kinetics-Sound epochs and
learning rates are not known (see methods/crisscross.md, section 5).
"""

from avjax import configs


def get_config(arg=None):
    return configs.crisscross_stored(
        arg, tfds_name="avjax_kinetics_sound", num_classes=32,
        splits={"train": "train", "probe": "train[:5000]", "eval": "val"},
        num_videos=22_000, epochs=100, checkpoint_every=500)
