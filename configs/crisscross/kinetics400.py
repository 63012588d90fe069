# avjax train --config configs/crisscross/kinetics400.py --workdir runs/crisscross_k400 --config.data.path=/data/shards/kinetics400
"""CrissCross pretraining on Kinetics-400 (the released config: crisscross.yaml), from shards.

Make the shards once:
    avjax convert --format kinetics --src K400/videos --meta K400/annotations --out /data/shards/kinetics400
Arguments: data=array_record (default) | tfds (then --config.data.path is the TFDS data_dir and
the builder is avjax_kinetics400); path=DIR sets config.data.path.

Full size: global batch 2048, 100 epochs of 240K videos x 5 clips each (the official "epoch"
visits every video clips_per_video = 5 times), warmup 2 epochs, Adam + LARC.
"""

from avjax import configs


def get_config(arg=None):
    return configs.crisscross_stored(
        arg, tfds_name="avjax_kinetics400", num_classes=400,
        splits={"train": "train", "probe": "train[:10000]", "eval": "val[:5000]"},
        num_videos=240_000, epochs=100, checkpoint_every=2000)
