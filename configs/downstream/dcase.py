# avjax downstream --config configs/downstream/dcase.py --workdir runs/dcase --config.init_from=runs/crisscross_k400 --config.data.path=/data/shards/dcase
"""DCASE 2013 scene classification: a linear classifier on frozen conv5x audio features (10 classes).

Make the shards once:
    avjax convert --format dcase --src DCASE2013/set1 --out /data/shards/dcase
Arguments: protocol=cv (default: leave-one-fold-out over the 5 stratified development folds, the
mean reported) | test (train on the development set, test on the challenge test set, `test`);
data=array_record|tfds, path=DIR.

The protocol (evaluate/evaluate/audio/audio_fctune.py): 1-s clips through the pretrained audio backbone,
conv5x max-pooled (1,3) stride (1,2) along time (512 x 3 x 1 = 1536-d), L2-normalised; a linear
layer with dropout 0.1 on its input, Adam at a fixed lr 7e-3, weight decay 1e-5, 200 epochs, batch
512; 60 clips per recording for training (augmented, time warp on) and for testing (uniformly
spaced, softmax averaged per recording). `top1` is after the last epoch; `top1_best_epoch` is the
best epoch on the test data, what the reference reports.
The L2 norm is over the flattened vector here: over the time axis (the ESC-50 quirk) it would turn
each 1-frame feature into its sign (set --config.features.norm=time to do that).
"""
from avjax import configs
from avjax.data import sources


def get_config(arg=None):
    a = configs.parse_arg(arg, protocol="cv", data="array_record", path="")
    if a.protocol not in ("cv", "test"):
        raise ValueError(f"protocol={a.protocol!r}: use cv (5 development folds) or test (the test set)")
    c = configs.downstream_audio_base()
    sources.configure_stored(c.data, source=a.data, path=a.path, tfds_name="avjax_dcase", num_classes=10,
                             splits={})
    c.audio.seconds = 1.0
    c.eval.folds = ("fold1", "fold2", "fold3", "fold4", "fold5")
    c.eval.test_split = "test" if a.protocol == "test" else ""
    c.eval.train_clips_per_video = 60
    c.eval.test_clips_per_video = 60
    c.classifier.kind = "linear"
    c.features.norm = "flat"
    return c
