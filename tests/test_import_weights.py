"""`avjax import-weights`: PyTorch modules written here in the torchvision / torchvggish layouts
(so their state-dict keys are the public checkpoints' keys) with random weights are saved as .pth
and .safetensors, imported through the CLI, loaded with `avjax.weights.load_converted`, and run
against the PyTorch forward on the same input. Also the one-line errors and the refusal to
unpickle anything but tensors."""
import filecmp
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from test_models import assert_close

from benchmarks.torch_reference import BasicBlock  # torchvision.models.resnet.BasicBlock

from avjax import cli, weights
from avjax.models.resnet import ResNet18Image
from avjax.models.vgg import VGG16Conv5
from avjax.models.vggish import VGGish, log_mel_patches

tnn = torch.nn
# max |flax - torch| <= TOL * max(1, max |torch|) (test_models.assert_close). Relative above 1: at
# |y| ~ 10-17 (ResNet-18 layer4) float32 itself is the floor; flax and torch are each 3e-5 to
# 8e-5 from a float64 run of the same network, so an absolute 1e-4 there would test rounding.
TOL = 1e-4

VGG16_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
VGGISH_CFG = [64, "M", 128, "M", 256, 256, "M", 512, 512, "M"]


# ------------------------------------------------------------------ the PyTorch modules

def make_layers(cfg, in_channels):
    """torchvision `vgg.make_layers(cfg, batch_norm=False)` = torchvggish `make_layers()`."""
    layers = []
    for v in cfg:
        if v == "M":
            layers.append(tnn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [tnn.Conv2d(in_channels, v, kernel_size=3, padding=1), tnn.ReLU(inplace=True)]
            in_channels = v
    return tnn.Sequential(*layers)


def torch_vgg16():
    """torchvision VGG16's `features`; `classifier` is a small stand-in with the same keys
    (classifier.{0,3,6}): the real one (123M parameters) is ignored by the import."""
    m = tnn.Module()
    m.features = make_layers(VGG16_CFG, 3)
    m.classifier = tnn.Sequential(tnn.Linear(8, 8), tnn.ReLU(True), tnn.Dropout(),
                                  tnn.Linear(8, 8), tnn.ReLU(True), tnn.Dropout(), tnn.Linear(8, 10))
    return m


class TorchVGGish(tnn.Module):
    """torchvggish `VGG`: features + embeddings, transposed to NHWC before flattening."""

    def __init__(self):
        super().__init__()
        self.features = make_layers(VGGISH_CFG, 1)
        self.embeddings = tnn.Sequential(tnn.Linear(512 * 4 * 6, 4096), tnn.ReLU(True),
                                         tnn.Linear(4096, 4096), tnn.ReLU(True),
                                         tnn.Linear(4096, 128), tnn.ReLU(True))

    def forward(self, x):
        x = self.features(x)
        x = torch.transpose(x, 1, 3)
        x = torch.transpose(x, 1, 2)
        return self.embeddings(x.contiguous().view(x.size(0), -1))


class TorchResNet18(tnn.Module):
    """torchvision resnet18 (with avgpool and fc, as in the checkpoint); `forward` stops after
    layer4 as SACL's does. SACL builds layer4 with stride 1."""

    def __init__(self, layer4_stride=2):
        super().__init__()
        self.conv1 = tnn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = tnn.BatchNorm2d(64)
        self.relu = tnn.ReLU(inplace=True)
        self.maxpool = tnn.MaxPool2d(3, 2, 1)
        cin = 64
        for k, (w, s) in enumerate(zip((64, 128, 256, 512), (1, 2, 2, layer4_stride)), start=1):
            setattr(self, f"layer{k}", tnn.Sequential(BasicBlock(cin, w, s), BasicBlock(w, w)))
            cin = w
        self.avgpool = tnn.AdaptiveAvgPool2d((1, 1))
        self.fc = tnn.Linear(512, 1000)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


def randomise(module, seed):
    """Kaiming-normal (fan_in) weights and non-zero biases, so activations stay O(1) through the
    depth and an absolute 1e-4 means something; random BN affine parameters and statistics."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, (tnn.Conv2d, tnn.Linear)):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (2.0 / fan_in) ** 0.5)
                if m.bias is not None:
                    m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=g))
            elif isinstance(m, tnn.BatchNorm2d):
                n = m.num_features
                m.weight.copy_(1 + 0.2 * torch.randn(n, generator=g))
                m.bias.copy_(0.2 * torch.randn(n, generator=g))
                m.running_mean.copy_(0.2 * torch.randn(n, generator=g))
                m.running_var.copy_(0.5 + torch.rand(n, generator=g))
    return module


def calibrate_bn(module, x):
    """Running statistics = those of the batch `x` (cumulative average over one batch), so that
    eval-mode activations stay O(1) through the residual stages and 1e-4 is a tight bound."""
    for m in module.modules():
        if isinstance(m, tnn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None
    with torch.no_grad():
        module.train()(x)
    for m in module.modules():
        if isinstance(m, tnn.BatchNorm2d):
            m.momentum = 0.1
    return module.eval()


# ------------------------------------------------------------------ helpers

def save_both(module, directory, name):
    """The state dict as NAME.pth (torch.save) and NAME.safetensors."""
    sd = module.state_dict()
    pth, st = os.path.join(directory, f"{name}.pth"), os.path.join(directory, f"{name}.safetensors")
    torch.save(sd, pth)
    save_file({k: v.contiguous() for k, v in sd.items()}, st)
    return pth, st


def run_cli(capsys, *args):
    """`avjax import-weights ARGS` -> (exit code, stdout, stderr)."""
    code = cli.main(["import-weights", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def import_both(capsys, tmp_path, arch, pth, st):
    """Import the .pth and the .safetensors through the CLI: the two outputs are byte-identical.
    Returns (the CLI summary, the loaded variables)."""
    outs = []
    for src in (pth, st):
        out = tmp_path / f"{arch}_{os.path.splitext(src)[1][1:]}"
        code, stdout, stderr = run_cli(capsys, "--arch", arch, "--src", str(src), "--out", str(out))
        assert code == 0, stderr
        summary = json.loads(stdout)
        assert summary["arch"] == arch and summary["source"] == os.path.abspath(src)
        outs.append(out / weights.VARIABLES_FILE)
    assert filecmp.cmp(*outs, shallow=False)
    variables = weights.load_converted(str(outs[0].parent), arch)
    assert all(x.dtype == np.float32 for x in jax.tree_util.tree_leaves(variables))
    return summary, variables


def nhwc(t):
    return t.detach().numpy().transpose(0, 2, 3, 1)


def max_abs(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.abs(a - b).max())


def check(name, got, want):
    """Prints the max abs difference, then asserts it is within TOL * max(1, max |want|)."""
    print(f"{name}: max abs diff {max_abs(got, want):.2e} (max |torch| {np.abs(want).max():.2f})")
    assert_close(got, want, TOL)


# ------------------------------------------------------------------ each architecture

def test_vgg16_import_matches_torchvision(tmp_path, capsys):
    model = randomise(torch_vgg16(), 0).eval()
    feats = model.features
    assert len(feats) == 31 and isinstance(feats[28], tnn.Conv2d) and isinstance(feats[29], tnn.ReLU)
    assert sum(p.numel() for p in feats.parameters()) == 14_714_688
    summary, variables = import_both(capsys, tmp_path, "vgg16", *save_both(model, tmp_path, "vgg16"))
    assert summary["num_params"] == 14_714_688 and summary["num_ignored_keys"] == 6

    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        want_raw, want_relu = nhwc(feats[:29](x)), nhwc(feats[:30](x))   # SSPL's [0:29]; [:30]

    @jax.jit
    def fwd(v, x):
        return VGG16Conv5().apply(v, x), VGG16Conv5(final_relu=True).apply(v, x)

    raw, relu = fwd(variables, jnp.asarray(nhwc(x)))
    assert raw.shape == (2, 4, 4, 512) and want_raw.min() < 0 and want_raw.std() > 0.1
    check("vgg16 features[:29]", raw, want_raw)
    check("vgg16 features[:30]", relu, want_relu)


def test_resnet18_import_matches_torchvision(tmp_path, capsys):
    model = calibrate_bn(randomise(TorchResNet18(), 2),
                         torch.randn(8, 3, 64, 64, generator=torch.Generator().manual_seed(6)))
    n_fc = sum(p.numel() for p in model.fc.parameters())
    assert sum(p.numel() for p in model.parameters()) - n_fc == 11_176_512
    summary, variables = import_both(capsys, tmp_path, "resnet18", *save_both(model, tmp_path, "resnet18"))
    assert summary["num_params"] == 11_176_512 and summary["num_batch_stats"] == 9_600
    assert summary["num_ignored_keys"] == 2 + 20            # fc.weight/bias + 20 num_batches_tracked

    model1 = TorchResNet18(layer4_stride=1)
    model1.load_state_dict(model.state_dict())               # SACL: the same weights at stride 1
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        want = {"s2_eval": nhwc(model.eval()(x)), "s1_eval": nhwc(model1.eval()(x)),
                "s1_train": nhwc(model1.train()(x))}          # batch statistics (SACL fine-tunes)

    @jax.jit
    def fwd(v, x):
        s1 = ResNet18Image(layer4_stride=1)
        train, _ = s1.apply(v, x, train=True, mutable=["batch_stats"])
        return {"s2_eval": ResNet18Image().apply(v, x, train=False),
                "s1_eval": s1.apply(v, x, train=False), "s1_train": train}

    got = fwd(variables, jnp.asarray(nhwc(x)))
    assert got["s1_eval"].shape == (2, 4, 4, 512) and got["s2_eval"].shape == (2, 2, 2, 512)
    assert all(0.1 < want[k].std() < 10 for k in want)
    for k in want:
        check(f"resnet18 {k}", got[k], want[k])


def test_vggish_import_matches_torchvggish(tmp_path, capsys):
    model = randomise(TorchVGGish(), 4).eval()
    assert sum(p.numel() for p in model.parameters()) == 72_141_184
    summary, variables = import_both(capsys, tmp_path, "vggish", *save_both(model, tmp_path, "vggish"))
    assert summary["num_params"] == 72_141_184 and summary["num_ignored_keys"] == 0

    wave = np.random.default_rng(5).uniform(-1, 1, (2, 48000)).astype(np.float32)

    @jax.jit
    def fwd(v, wave):   # the SSPL audio path: waveform -> 3 patches -> VGGish, on device
        patches = log_mel_patches(wave)
        return patches, VGGish().apply(v, patches)

    patches, emb = fwd(variables, jnp.asarray(wave))
    assert patches.shape == (2, 3, 96, 64) and emb.shape == (2, 3, 128)
    with torch.no_grad():   # torchvggish input: [N, 1, 96, 64]
        want = model(torch.from_numpy(np.array(patches).reshape(6, 1, 96, 64))).numpy().reshape(2, 3, 128)
    assert float(emb.min()) >= 0.0 and want.std() > 0.1 and (want == 0).mean() < 0.9
    check("vggish embeddings", emb, want)


# ------------------------------------------------------------------ errors

@pytest.fixture(scope="module")
def resnet_state_dict():
    return TorchResNet18().state_dict()


def _one_line(err):
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize("edit,arch,expected", [
    (lambda sd: sd.update({"layer5.0.conv1.weight": torch.zeros(1)}), "resnet18",
     "unknown key 'layer5.0.conv1.weight' for --arch resnet18"),
    (lambda sd: sd.pop("layer3.1.bn2.running_var"), "resnet18",
     "missing key 'layer3.1.bn2.running_var' for --arch resnet18"),
    (lambda sd: sd.update({"conv1.weight": torch.zeros(64, 3, 3, 3)}), "resnet18",
     "key 'conv1.weight' has shape (64, 3, 3, 3), --arch resnet18 expects (64, 3, 7, 7)"),
    (lambda sd: None, "vgg16", "unknown key 'bn1.bias' (and 121 more) for --arch vgg16"),
])
def test_bad_state_dict_is_one_line_naming_key_and_file(tmp_path, capsys, resnet_state_dict,
                                                        edit, arch, expected):
    sd = dict(resnet_state_dict)
    edit(sd)
    src = tmp_path / "bad.pth"
    torch.save(sd, src)
    code, _, err = run_cli(capsys, "--arch", arch, "--src", str(src), "--out", str(tmp_path / "out"))
    line = _one_line(err)
    assert code == 2 and line.startswith("avjax import-weights: error: ")
    assert str(src) in line and expected in line, line
    assert not (tmp_path / "out").exists()


def test_only_tensors_are_unpickled(tmp_path, capsys):
    marker = tmp_path / "pwned"

    class Payload:   # unpickling this would create `marker`
        def __reduce__(self):
            return (open, (str(marker), "w"))

    src = tmp_path / "evil.pth"
    torch.save({"conv1.weight": torch.zeros(1), "x": Payload()}, src)
    code, _, err = run_cli(capsys, "--arch", "resnet18", "--src", str(src), "--out", str(tmp_path / "o"))
    line = _one_line(err)
    assert code == 2 and "weights_only=True" in line and str(src) in line
    assert not marker.exists()


def test_not_a_state_dict_and_missing_file(tmp_path, capsys):
    src = tmp_path / "ckpt.pth"
    torch.save({"epoch": torch.tensor(3), "state_dict": {"conv1.weight": torch.zeros(1)}}, src)
    code, _, err = run_cli(capsys, "--arch", "resnet18", "--src", str(src), "--out", str(tmp_path / "o"))
    line = _one_line(err)
    assert code == 2 and "key 'state_dict' holds a dict, not a tensor (a training checkpoint?" in line
    missing = tmp_path / "nope.safetensors"
    code, _, err = run_cli(capsys, "--arch", "vggish", "--src", str(missing), "--out", str(tmp_path / "o"))
    assert code == 2 and f"{missing}: no such file" in _one_line(err)


def test_load_converted_checks_arch_and_folder(tmp_path, resnet_state_dict):
    out = tmp_path / "r18"
    src = tmp_path / "r18.safetensors"
    save_file(dict(resnet_state_dict), str(src))
    summary = weights.import_weights("resnet18", str(src), str(out))
    assert sorted(os.listdir(out)) == ["import.json", "variables.msgpack"]
    assert json.loads((out / "import.json").read_text())["source_sha256"] == summary["source_sha256"]
    variables = weights.load_converted(str(out))
    assert set(variables) == {"params", "batch_stats"}
    np.testing.assert_array_equal(variables["params"]["conv1"]["kernel"],
                                  resnet_state_dict["conv1.weight"].numpy().transpose(2, 3, 1, 0))
    np.testing.assert_array_equal(variables["batch_stats"]["layer4_0"]["downsample_bn"]["var"],
                                  resnet_state_dict["layer4.0.downsample.1.running_var"].numpy())
    with pytest.raises(ValueError, match="holds resnet18 weights, not vgg16"):
        weights.load_converted(str(out), "vgg16")
    with pytest.raises(FileNotFoundError, match="avjax import-weights"):
        weights.load_converted(str(tmp_path / "empty"))
