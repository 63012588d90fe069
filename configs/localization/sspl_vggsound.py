# avjax train --config configs/localization/sspl_vggsound.py:train_list=vggsound144k,root=DATA/vggsound --config.model.visual_weights=WEIGHTS/vgg16 --config.model.audio_weights=WEIGHTS/vggish --workdir runs/sspl_vggsound144k
"""SSPL (pcm=True|False) trained on VGGSound 10k / 144k (train_list=vggsound10k|vggsound144k),
tested on VGG-SS (vggss_test_4692.csv, boxes from vggss_test_5158.json; cIoU@0.5, AUC).

Data layout under root: vggss_10k.txt / vggss_144k.txt, frames/<id>.jpg, audio/<id>.wav;
test/frames, test/audio (the 256 x 256 test frames of the official h5 preparation).
"""
from avjax import configs


def get_config(arg=None):
    return configs.localization_folder(arg, "sspl", "vggss")
