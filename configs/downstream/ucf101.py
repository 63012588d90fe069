# avjax train --config configs/downstream/ucf101.py:split=1 --workdir runs/ucf101_split1 --config.init_from=runs/crisscross_k400 --config.data.path=/data/shards/ucf101
"""UCF101 full finetuning of the CrissCross video backbone (top-1, 3 official splits).

Make the shards once (native frame size: the recipe crops 224 px; the default --short-side 128
would upscale):
    avjax convert --format ucf101 --src UCF-101 --meta ucfTrainTestlist --out /data/shards/ucf101 --short-side 0
Arguments: split=1|2|3 (train<k> / test<k>), frames=32|8, pretrain=kinetics400|kinetics_sound|audioset
(picks the official recipe: SGD lr, gamma, milestones, dropout), data=array_record|tfds, path=DIR,
epochs=20. `--config.init_from` is the pretraining workdir (its video backbone is restored);
(`avjax downstream` runs it too.)

The recipe (evaluate/configs/downstream/ucf101/*/full_ft_{8f,32f}_fold*.yaml): 224 px at 16 fps,
batch 32 (32 frames) / 64 (8 frames), 20 epochs of 10 random clips per video, SGD momentum 0.9,
no weight decay, multistep decay; test: 10 uniformly spaced clips per video, softmax averaged.
Evaluated every epoch (metrics.jsonl); the paper reports the best epoch on the test split.
"""
from avjax import configs


def get_config(arg=None):
    return configs.finetune_video(arg, "ucf101")
