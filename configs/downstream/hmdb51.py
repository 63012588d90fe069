# avjax train --config configs/downstream/hmdb51.py:split=1 --workdir runs/hmdb51_split1 --config.init_from=runs/crisscross_k400 --config.data.path=/data/shards/hmdb51
"""HMDB51 full finetuning of the CrissCross video backbone (top-1, 3 official splits).

Make the shards once:
    avjax convert --format hmdb51 --src hmdb51 --meta testTrainMulti_7030_splits --out /data/shards/hmdb51 --short-side 0
Arguments: split=1|2|3 (train<k> / test<k>), frames=32|8, pretrain=kinetics400|kinetics_sound|audioset
(picks the official recipe), data=array_record|tfds, path=DIR, epochs=20.

The recipe (evaluate/configs/downstream/hmdb51/*/full_ft_{8f,32f}_fold*.yaml) is UCF101's with its own
learning rates and milestones (see avjax.configs.FINETUNE_RECIPES); the official HMDB configs name a
video transform `strong_tc` that the code does not implement: the strong augmentation is used.
"""
from avjax import configs


def get_config(arg=None):
    return configs.finetune_video(arg, "hmdb51")
