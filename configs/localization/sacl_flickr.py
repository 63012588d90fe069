# avjax train --config configs/localization/sacl_flickr.py:train_list=flickr10k,root=DATA/flickr --config.model.visual_weights=WEIGHTS/resnet18 --config.model.audio_weights=WEIGHTS/vggish --workdir runs/sacl_flickr10k
"""SACL trained on Flickr-SoundNet 10k / 144k (train_list=flickr10k|flickr144k), tested on the
249 Flickr-SoundNet test images. ResNet-18 (ImageNet, layer4 stride 1) and VGGish, both
fine-tuned; pseudo masks by Felzenszwalb (install scikit-image for speed: the pure-Python
fallback takes ~1 s a frame), or data.pseudo_mask=grid with data.grid_size=1|2|4|8.
Data layout: as configs/localization/sspl_flickr.py.
"""
from avjax import configs


def get_config(arg=None):
    return configs.localization_folder(arg, "sacl", "flickr")
