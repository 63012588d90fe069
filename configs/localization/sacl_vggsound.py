# avjax train --config configs/localization/sacl_vggsound.py:train_list=vggsound144k,root=DATA/vggsound --config.model.visual_weights=WEIGHTS/resnet18 --config.model.audio_weights=WEIGHTS/vggish --workdir runs/sacl_vggsound144k
"""SACL trained on VGGSound 10k / 144k (train_list=vggsound10k|vggsound144k), tested on VGG-SS.
Data layout: as configs/localization/sspl_vggsound.py.
"""
from avjax import configs


def get_config(arg=None):
    return configs.localization_folder(arg, "sacl", "vggss")
