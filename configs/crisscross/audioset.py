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

from avjax import configs


def get_config(arg=None):
    return configs.crisscross_stored(
        arg, tfds_name="avjax_audioset", num_classes=527,
        splits={"train": "train", "probe": "balanced_train[:10000]", "eval": "eval[:5000]"},
        num_videos=1_800_000, epochs=40, checkpoint_every=5000, multi_label=True)
