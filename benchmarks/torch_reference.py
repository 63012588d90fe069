"""A PyTorch reference of the official CrissCross model and train step, for `vs_pytorch.py`.

Written from the specification (`methods/crisscross.md`) and checked against the official
repository (pritamqu/CrissCross @1fe8953) for module names, layer order and the step; not a copy
of it. Module and parameter names are the official ones, so a state dict of this model has the
official keys (`video_backbone.conv2x.0.spt_conv1.weight`, `audio_backbone.block1.0.conv1.weight`,
`video_projector.layer1.0.weight`, ...).

    video: [B, 3, T, H, W] float (ImageNet-normalised); audio: [B, 1, F, T] float (log-mel)
    R2Plus1D (AVID-CMA R(2+1)D-18)  15,379,136 params   [B, 3, 8, 112, 112] -> [B, 512]
    ResNet18Audio                   11,170,240 params   [B, 1, 80, 201]     -> [B, 512]
    Projector (3 layers)             9,455,616 params   [B, 512] -> [B, 2048]   (per modality)
    Predictor                        2,100,736 params   [B, 2048] -> [B, 2048]  (per modality)
    CrissCross total                49,662,080 params

The step (`TrainStep`) is the official one: zero_grad; the four views through their encoders one
by one (per-view BatchNorm statistics), the 6 symmetric SimSiam terms with stop-gradient on the
targets; backward; LARC (trust 1e-3, clip, eps 1e-8, weight decay 1e-4 folded into the gradient)
around Adam (betas 0.9/0.999, eps 1e-8) with the four official parameter groups. Optional
autocast (the official code trains under CUDA AMP) and channels-last memory formats.
"""
from __future__ import annotations

import contextlib
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

# The official parameter counts (performance_anchors.md), per module at full size.
FULL_SIZE_PARAMS = {"video_backbone": 15_379_136, "audio_backbone": 11_170_240,
                    "video_projector": 9_455_616, "audio_projector": 9_455_616,
                    "video_predictor": 2_100_736, "audio_predictor": 2_100_736}
FULL_SIZE_TOTAL = 49_662_080


# ---------------------------------------------------------------------------------------------
# Video: R(2+1)D-18, AVID-CMA variant.
# ---------------------------------------------------------------------------------------------

class BasicR2P1DBlock(nn.Module):
    """(1,3,3) spatial conv -> BN -> ReLU -> (3,1,1) temporal conv -> BN -> ReLU -> spatial ->
    BN -> ReLU -> temporal (no BN) -> + shortcut -> out_bn -> ReLU.

    The middle width of each (2+1)D pair is `out_planes` (no parameter matching). The shortcut is
    a strided 1x1x1 conv without BN when the width or the stride changes, else the identity.
    """

    def __init__(self, in_planes: int, out_planes: int, stride: Sequence[int] = (1, 1, 1)):
        super().__init__()
        st, sh, sw = stride
        self.spt_conv1 = nn.Conv3d(in_planes, out_planes, (1, 3, 3), (1, sh, sw), (0, 1, 1), bias=False)
        self.spt_bn1 = nn.BatchNorm3d(out_planes)
        self.tmp_conv1 = nn.Conv3d(out_planes, out_planes, (3, 1, 1), (st, 1, 1), (1, 0, 0), bias=False)
        self.tmp_bn1 = nn.BatchNorm3d(out_planes)
        self.spt_conv2 = nn.Conv3d(out_planes, out_planes, (1, 3, 3), 1, (0, 1, 1), bias=False)
        self.spt_bn2 = nn.BatchNorm3d(out_planes)
        self.tmp_conv2 = nn.Conv3d(out_planes, out_planes, (3, 1, 1), 1, (1, 0, 0), bias=False)
        self.out_bn = nn.BatchNorm3d(out_planes)
        self.res_conv = None
        if in_planes != out_planes or any(s != 1 for s in stride):
            self.res_conv = nn.Conv3d(in_planes, out_planes, 1, tuple(stride), 0, bias=False)

    def forward(self, x):
        y = F.relu(self.spt_bn1(self.spt_conv1(x)))
        y = F.relu(self.tmp_bn1(self.tmp_conv1(y)))
        y = F.relu(self.spt_bn2(self.spt_conv2(y)))
        y = self.tmp_conv2(y)
        shortcut = x if self.res_conv is None else self.res_conv(x)
        return F.relu(self.out_bn(y + shortcut))


class R2Plus1D(nn.Module):
    """AVID-CMA R(2+1)D-18: full 3-D stem (3,7,7) s(1,2,2) -> BN -> ReLU -> maxpool (1,3,3)
    s(1,2,2); conv2x..conv5x of `blocks` blocks; the first block of conv3x..conv5x has stride
    (2,2,2); global average pool. PyTorch default init. [B, 3, T, H, W] -> [B, widths[-1]]."""

    def __init__(self, widths: Sequence[int] = (64, 128, 256, 512), blocks: Sequence[int] = (2, 2, 2, 2)):
        super().__init__()
        self.conv1 = nn.Sequential(
            nn.Conv3d(3, widths[0], (3, 7, 7), (1, 2, 2), (1, 3, 3), bias=False),
            nn.BatchNorm3d(widths[0]), nn.ReLU(inplace=True),
            nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1)))
        in_planes = widths[0]
        for stage, (width, depth) in enumerate(zip(widths, blocks)):
            layers = []
            for j in range(depth):
                stride = (2, 2, 2) if stage > 0 and j == 0 else (1, 1, 1)
                layers.append(BasicR2P1DBlock(in_planes, width, stride))
                in_planes = width
            setattr(self, f"conv{stage + 2}x", nn.Sequential(*layers))
        self.num_stages = len(widths)
        self.output_dim = widths[-1]

    def forward(self, x):
        x = self.conv1(x)
        for stage in range(self.num_stages):
            x = getattr(self, f"conv{stage + 2}x")(x)
        return x.mean(dim=(2, 3, 4))


# ---------------------------------------------------------------------------------------------
# Audio: ResNet-18 on log-mel.
# ---------------------------------------------------------------------------------------------

class BasicBlock(nn.Module):
    """The torchvision ResNet basic block: conv3x3(s)-BN-ReLU-conv3x3-BN + shortcut, ReLU; the
    shortcut is conv1x1(s)+BN (`downsample`) when the width or the stride changes."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or in_planes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride, bias=False),
                                            nn.BatchNorm2d(planes))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        shortcut = x if self.downsample is None else self.downsample(x)
        return F.relu(y + shortcut)


class ResNet18Audio(nn.Module):
    """ResNet-18 with one input channel: conv 7x7 s2 p3 -> BN -> ReLU -> maxpool 3 s2 p1;
    block1..block4 of `blocks` basic blocks, strides 1,2,2,2; global average pool. Convs
    kaiming_normal (fan_out, ReLU), BN 1/0. [B, 1, F, T] -> [B, widths[-1]]."""

    def __init__(self, widths: Sequence[int] = (64, 128, 256, 512), blocks: Sequence[int] = (2, 2, 2, 2)):
        super().__init__()
        self.conv1 = nn.Sequential(
            nn.Conv2d(1, widths[0], 7, 2, 3, bias=False), nn.BatchNorm2d(widths[0]),
            nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1))
        in_planes = widths[0]
        for stage, (width, depth) in enumerate(zip(widths, blocks)):
            layers = []
            for j in range(depth):
                layers.append(BasicBlock(in_planes, width, 2 if stage > 0 and j == 0 else 1))
                in_planes = width
            setattr(self, f"block{stage + 1}", nn.Sequential(*layers))
        self.num_stages = len(widths)
        self.output_dim = widths[-1]
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        x = self.conv1(x)
        for stage in range(self.num_stages):
            x = getattr(self, f"block{stage + 1}")(x)
        return x.mean(dim=(2, 3))


# ---------------------------------------------------------------------------------------------
# SimSiam heads and the model.
# ---------------------------------------------------------------------------------------------

class Projector(nn.Module):
    """Linear+BN+ReLU -> Linear+BN+ReLU -> Linear+BN (affine, no ReLU); `num_layers=2` skips the
    middle layer (it still exists, as in the official code)."""

    def __init__(self, in_dim: int, hidden: int = 2048, out: int = 2048, num_layers: int = 3):
        super().__init__()
        self.layer1 = nn.Sequential(nn.Linear(in_dim, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True))
        self.layer2 = nn.Sequential(nn.Linear(hidden, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True))
        self.layer3 = nn.Sequential(nn.Linear(hidden, out), nn.BatchNorm1d(out))
        self.num_layers = num_layers

    def forward(self, x):
        x = self.layer1(x)
        if self.num_layers == 3:
            x = self.layer2(x)
        return self.layer3(x)


class Predictor(nn.Module):
    """Bottleneck: Linear+BN+ReLU -> Linear (no output BN)."""

    def __init__(self, in_dim: int = 2048, hidden: int = 512, out: int = 2048):
        super().__init__()
        self.layer1 = nn.Sequential(nn.Linear(in_dim, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True))
        self.layer2 = nn.Linear(hidden, out)

    def forward(self, x):
        return self.layer2(self.layer1(x))


def negative_cosine(p, z):
    """D(p, z) = -mean_batch cos(p, sg(z)) (F.cosine_similarity, eps 1e-8)."""
    return -F.cosine_similarity(p, z.detach(), dim=-1).mean()


class CrissCross(nn.Module):
    """Video and audio encoders (backbone + projector) and predictors; forward -> (loss, terms).

    L = [L_v1v2 + L_a1a2 + (L_v1a2 + L_a1v2) + (L_v1a1 + L_v2a2)] / 6 with all coefficients 1,
    L_xy = D(p_x, z_y)/2 + D(p_y, z_x)/2.
    """

    def __init__(self, video_widths=(64, 128, 256, 512), video_blocks=(2, 2, 2, 2),
                 audio_widths=(64, 128, 256, 512), audio_blocks=(2, 2, 2, 2),
                 proj_hidden: int = 2048, proj_dim: int = 2048, proj_layers: int = 3, pred_hidden: int = 512):
        super().__init__()
        self.video_backbone = R2Plus1D(video_widths, video_blocks)
        self.audio_backbone = ResNet18Audio(audio_widths, audio_blocks)
        self.video_projector = Projector(video_widths[-1], proj_hidden, proj_dim, proj_layers)
        self.audio_projector = Projector(audio_widths[-1], proj_hidden, proj_dim, proj_layers)
        self.video_predictor = Predictor(proj_dim, pred_hidden, proj_dim)
        self.audio_predictor = Predictor(proj_dim, pred_hidden, proj_dim)

    def forward(self, v1, v2, a1, a2):
        out = {}
        for name, x, backbone, projector, predictor in (
                ("v1", v1, self.video_backbone, self.video_projector, self.video_predictor),
                ("v2", v2, self.video_backbone, self.video_projector, self.video_predictor),
                ("a1", a1, self.audio_backbone, self.audio_projector, self.audio_predictor),
                ("a2", a2, self.audio_backbone, self.audio_projector, self.audio_predictor)):
            z = projector(backbone(x))  # one call per view: per-view BN statistics
            out["z" + name], out["p" + name] = z, predictor(z)

        def pair(x, y):
            return (negative_cosine(out["p" + x], out["z" + y]) / 2
                    + negative_cosine(out["p" + y], out["z" + x]) / 2)

        terms = {"L_v1v2": pair("v1", "v2"), "L_a1a2": pair("a1", "a2"),
                 "L_v1a2": pair("v1", "a2"), "L_a1v2": pair("a1", "v2"),
                 "L_v1a1": pair("v1", "a1"), "L_v2a2": pair("v2", "a2")}
        return sum(terms.values()) / len(terms), terms


def param_counts(model: CrissCross) -> dict[str, int]:
    """Trainable parameters per top-level module, plus "total"."""
    counts = {name: sum(p.numel() for p in child.parameters()) for name, child in model.named_children()}
    counts["total"] = sum(p.numel() for p in model.parameters())
    return counts


# ---------------------------------------------------------------------------------------------
# Optimiser: LARC around Adam, the official four parameter groups.
# ---------------------------------------------------------------------------------------------

GROUPS = {"vid_base": ("video_backbone", "video_projector"), "vid_predictor": ("video_predictor",),
          "aud_base": ("audio_backbone", "audio_projector"), "aud_predictor": ("audio_predictor",)}


def make_optimizer(model: CrissCross, lrs: dict[str, float] | None = None, weight_decay: float = 1e-4,
                   betas=(0.9, 0.999), eps: float = 1e-8) -> torch.optim.Adam:
    """Adam over the four official groups (name -> lr; default: the released post-warmup values,
    backbone+projector 2e-4, predictors 2e-3). Weight decay lives in the groups, as officially,
    and is applied by `larc_` (which hands Adam a decay of 0)."""
    lrs = lrs or {"vid_base": 2e-4, "vid_predictor": 2e-3, "aud_base": 2e-4, "aud_predictor": 2e-3}
    groups = [{"name": name, "lr": lrs[name],
               "params": [p for n, p in model.named_parameters() if n.split(".")[0] in prefixes]}
              for name, prefixes in GROUPS.items()]
    return torch.optim.Adam(groups, lr=lrs["vid_base"], betas=betas, eps=eps, weight_decay=weight_decay)


@torch.no_grad()
def larc_(optimizer: torch.optim.Optimizer, trust: float = 1e-3, eps: float = 1e-8, clip: bool = True):
    """LARC on the gradients, in place, then the wrapped optimiser's step (weight decay 0 inside).

    Per tensor w with gradient g, when ||w|| > 0 and ||g|| > 0:
        r = trust ||w|| / (||g|| + wd ||w|| + eps);  r = min(r / lr, 1) if clip;  g <- (g + wd w) r
    otherwise g is left as it is. As the official code: a Python test of the norms (a host sync
    per tensor on a GPU) and two in-place passes over each gradient; with lr = 0 (the first warmup
    step) r / lr is inf and clips to 1.
    """
    decays = []
    for group in optimizer.param_groups:
        wd = group.get("weight_decay", 0.0)
        decays.append(wd)
        group["weight_decay"] = 0.0
        for p in group["params"]:
            if p.grad is None:
                continue
            w_norm, g_norm = torch.linalg.vector_norm(p), torch.linalg.vector_norm(p.grad)
            if w_norm != 0 and g_norm != 0:
                ratio = trust * w_norm / (g_norm + w_norm * wd + eps)
                if clip:
                    ratio = torch.clamp(ratio / group["lr"], max=1.0) if group["lr"] > 0 else 1.0
                p.grad.add_(p, alpha=wd).mul_(ratio)
    optimizer.step()
    for group, wd in zip(optimizer.param_groups, decays):
        group["weight_decay"] = wd


class TrainStep:
    """One official train step: `step(v1, v2, a1, a2) -> loss tensor` (not synchronised).

    device "cpu" | "cuda"; `autocast` None | torch.float16 | torch.bfloat16 (the official code:
    fp16 under CUDA AMP with a GradScaler, which only rescales; left out here); `channels_last`
    puts the video backbone in channels_last_3d and the audio backbone in channels_last.
    """

    def __init__(self, model: CrissCross, device: str = "cpu", autocast=None, channels_last: bool = False,
                 lrs: dict[str, float] | None = None):
        self.model = model.to(device).train()
        self.device, self.autocast, self.channels_last = device, autocast, channels_last
        if channels_last:
            self.model.video_backbone.to(memory_format=torch.channels_last_3d)
            self.model.audio_backbone.to(memory_format=torch.channels_last)
        self.optimizer = make_optimizer(self.model, lrs)

    def prepare(self, video, audio):
        """[B, 3, T, H, W] and [B, 1, F, T] tensors on this step's device and memory format."""
        video, audio = video.to(self.device), audio.to(self.device)
        if self.channels_last:
            return (video.contiguous(memory_format=torch.channels_last_3d),
                    audio.contiguous(memory_format=torch.channels_last))
        return video.contiguous(), audio.contiguous()

    def set_lrs(self, lrs: dict[str, float]):
        for group in self.optimizer.param_groups:
            group["lr"] = float(lrs[group["name"]])

    def __call__(self, v1, v2, a1, a2):
        self.model.zero_grad(set_to_none=True)
        ctx = (torch.autocast(self.device, dtype=self.autocast) if self.autocast is not None
               else contextlib.nullcontext())
        with ctx:
            loss, _ = self.model(v1, v2, a1, a2)
        loss.backward()
        larc_(self.optimizer)
        return loss.detach()
