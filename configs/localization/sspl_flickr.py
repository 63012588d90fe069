# avjax train --config configs/localization/sspl_flickr.py:train_list=flickr10k,root=DATA/flickr --config.model.visual_weights=WEIGHTS/vgg16 --config.model.audio_weights=WEIGHTS/vggish --workdir runs/sspl_flickr10k
"""SSPL (pcm=True: with the predictive coding module, 20 epochs; pcm=False: without, 100 epochs)
trained on Flickr-SoundNet 10k / 144k (train_list=flickr10k|flickr144k), tested on the 249
Flickr-SoundNet test images (cIoU@0.5, AUC; SSPL protocol).

Data layout under root (avjax.data.localization_train): flickr_10k.txt / flickr_144k.txt,
frames/<id>.jpg, audio/<id>.wav; test/frames, test/audio, test/Annotations/<id>.xml,
flickr_test249_in5k.csv. Backbones: ImageNet VGG16 and VGGish from `avjax import-weights`.
"""
from avjax import configs


def get_config(arg=None):
    return configs.localization_folder(arg, "sspl", "flickr")
