# avjax train --config configs/downstream/synthetic.py:variant=small --workdir runs/finetune_synthetic --config.init_from=runs/crisscross_synthetic
"""Finetuning (task finetune_video) on the synthetic AV world's 10 classes: UCF101's protocol in small.

The pretraining run (`init_from`) must be the same variant of configs/crisscross/synthetic.py: the
data (the world), the frame size and the model widths are taken from it. Training clips come from
the world's "train" split, the test clips from its "eval" split (multi-clip top-1).
Differences from UCF101's recipe: no hue jitter and no greyscale (colour is half of the label), SGD
at lr 0.01 decayed x0.1 after 2/3 of the steps. Variants: small (the size of the demo's
pretraining), tiny (tests).
"""
import os

from avjax import configs


def get_config(arg=None):
    arg = configs.parse_arg(arg, variant="small")
    if arg.variant not in ("small", "tiny"):
        raise ValueError(f"variant={arg.variant!r}: use small or tiny")
    here = os.path.dirname(os.path.abspath(__file__))
    pre = configs.load_config(os.path.join(here, "..", "crisscross", f"synthetic.py:variant={arg.variant}"))
    c = configs.finetune_video_base()
    c.data = pre.data
    c.data.views = 1
    c.data.num_classes = 10
    c.data.num_eval = 100 if arg.variant == "tiny" else 500
    c.video.num_frames = pre.video.num_frames
    c.video.crop_size = pre.video.crop_size
    c.video.crop_scale = pre.video.crop_scale
    c.video.aug.cutout_max_size = pre.video.aug.cutout_max_size
    c.video.aug.blur_kernel_size = 11
    # Colour tells the class here (one hue per class): no hue jitter, no greyscale.
    c.video.aug.hue = 0.0
    c.video.aug.p_gray = 0.0
    c.model.video_widths = pre.model.video_widths
    c.model.video_blocks = pre.model.video_blocks
    c.batch_size = 16 if arg.variant == "tiny" else 32
    # tiny: 60 steps. From the one-block tiny pretraining (20 steps), 30 steps barely move the
    # cross-entropy (first 5 vs last 10 steps: 2.379 -> 2.335); 60 steps: 2.379 -> 2.062.
    c.total_steps = 60 if arg.variant == "tiny" else 300
    g = c.optim.groups[0]
    g.lr, g.gamma, g.milestones = 0.01, 0.1, (c.total_steps * 2 // 3,)
    c.eval.clips_per_video = 2 if arg.variant == "tiny" else 5
    c.eval_batch_size = 32
    c.log_every = 5 if arg.variant == "tiny" else 10
    c.checkpoint_every = c.total_steps
    return c
