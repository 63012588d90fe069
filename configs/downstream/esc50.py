# avjax downstream --config configs/downstream/esc50.py --workdir runs/esc50 --config.init_from=runs/crisscross_k400 --config.data.path=/data/shards/esc50
"""ESC-50: a linear SVM on frozen conv5x features of the CrissCross audio backbone (5-fold accuracy).

Make the shards once:
    avjax convert --format esc50 --src ESC-50 --out /data/shards/esc50
Arguments: data=array_record|tfds, path=DIR.

The protocol (evaluate/evaluate/audio/audio_svm.py): 2-s clips through the pretrained audio backbone
(eval-mode BN; the pretraining run's log-mel front end), the conv5x map max-pooled (1,3) stride (1,2)
along time (512 x 3 x 3 = 4608-d), L2-normalised over the time axis and flattened. Training
features: 100 strongly augmented 2-s clips per recording (time warp on); test: 10 uniformly spaced
clips per recording, SVM scores averaged. LinearSVC (max_iter 1000), C = 1e-4 (the README's;
the reference sweeps C on the test fold: set --config.classifier.C_sweep to report a sweep).
Leave-one-fold-out over the 5 official folds; the mean is the ESC-50 number.
Memory: 1600 x 100 training features of 4608 floats per fold (~3 GB, float64 in liblinear ~6 GB);
lower --config.eval.train_clips_per_video to trade accuracy for memory.
"""
from avjax import configs
from avjax.data import sources


def get_config(arg=None):
    a = configs.parse_arg(arg, data="array_record", path="")
    c = configs.downstream_audio_base()
    sources.configure_stored(c.data, source=a.data, path=a.path, tfds_name="avjax_esc50", num_classes=50,
                             splits={})
    c.audio.seconds = 2.0
    c.eval.folds = ("fold1", "fold2", "fold3", "fold4", "fold5")
    c.eval.train_clips_per_video = 100
    c.eval.test_clips_per_video = 10
    c.classifier.kind = "svm"
    c.classifier.C = 1e-4
    c.features.norm = "time"
    return c
