# avjax train --config configs/crisscross/vggsound.py --workdir runs/crisscross_vggsound --config.data.path=/data/shards/vggsound
"""CrissCross pretraining on VGGSound (~200K 10-s clips, 309 classes), from shards.

Make the shards once:
    avjax convert --format vggsound --src VGGSound/videos --meta VGGSound/vggsound.csv --out /data/shards/vggsound
Arguments: data=array_record (default) | tfds (builder avjax_vggsound); path=DIR.

The Kinetics-400 recipe (batch 2048, 100 epochs x 5 clips per video, warmup 2 epochs); CrissCross
did not pretrain on VGGSound, so these settings are this library's choice.
"""

from avjax import configs


def get_config(arg=None):
    return configs.crisscross_stored(
        arg, tfds_name="avjax_vggsound", num_classes=309,
        splits={"train": "train", "probe": "train[:10000]", "eval": "test[:5000]"},
        num_videos=183_000, epochs=100, checkpoint_every=2000)
