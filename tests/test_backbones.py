"""Backbones of SSPL / SACL: VGG16 conv5, VGGish + its log-mel front end, ResNet-18 for images.

Sizes and parameter counts at full size (jax.eval_shape, nothing allocated); the VGGish front end
against a float64 NumPy reference written here from the torchvggish formulas
(`vggish_input.waveform_to_examples` -> `mel_features.log_mel_spectrogram` -> `frame`).
Forward passes (with weights imported from PyTorch modules, compared to them) are in
test_import_weights.py."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from avjax.models import count_params
from avjax.models.resnet import ResNet18Image
from avjax.models.vgg import VGG16Conv5
from avjax.models.vggish import VGGish, log_mel_patches, mel_matrix, num_frames

KEY = jax.random.PRNGKey(0)


def _shapes(model, *args, **kwargs):
    return jax.eval_shape(lambda: model.init(KEY, *args, **kwargs))


def _out_shape(model, variables, *args, **kwargs):
    return jax.eval_shape(lambda v: model.apply(v, *args, **kwargs), variables).shape


# ------------------------------------------------------------------ full size: counts and shapes

def test_vgg16_conv5_count_and_shape():
    model, x = VGG16Conv5(), jnp.zeros((2, 224, 224, 3))
    variables = _shapes(model, x)
    assert set(variables) == {"params"}
    assert count_params(variables["params"]) == 14_714_688   # torchvision vgg16().features
    assert _out_shape(model, variables, x) == (2, 14, 14, 512)
    assert _out_shape(model, variables, jnp.zeros((1, 320, 320, 3))) == (1, 20, 20, 512)


@pytest.mark.parametrize("stride,size", [(1, 14), (2, 7)])
def test_resnet18_image_count_and_shape(stride, size):
    model, x = ResNet18Image(layer4_stride=stride), jnp.zeros((2, 224, 224, 3))
    variables = _shapes(model, x, train=False)
    assert count_params(variables["params"]) == 11_176_512       # torchvision resnet18 less fc
    assert count_params(variables["batch_stats"]) == 9_600       # 20 BN layers, mean + var
    assert _out_shape(model, variables, x, train=False) == (2, size, size, 512)


def test_resnet18_image_stride_does_not_change_variables():
    x = jnp.zeros((1, 64, 64, 3))
    shapes = [jax.tree_util.tree_map(lambda a: a.shape,
                                     _shapes(ResNet18Image(layer4_stride=s), x, train=False))
              for s in (1, 2)]
    assert shapes[0] == shapes[1]
    with pytest.raises(ValueError, match="layer4_stride=3"):
        _shapes(ResNet18Image(layer4_stride=3), x, train=False)


def test_vggish_count_and_shapes():
    model = VGGish()
    variables = _shapes(model, jnp.zeros((2, 96, 64)))
    assert count_params(variables["params"]) == 72_141_184
    assert _out_shape(model, variables, jnp.zeros((2, 96, 64))) == (2, 128)
    assert _out_shape(model, variables, jnp.zeros((2, 96, 64, 1))) == (2, 128)
    assert _out_shape(model, variables, jnp.zeros((4, 3, 96, 64))) == (4, 3, 128)   # SSPL: B x 3 patches
    with pytest.raises(ValueError, match="96, 64"):
        _out_shape(model, variables, jnp.zeros((2, 64, 96)))


# ------------------------------------------------------------------ the front end vs a NumPy reference

def _reference_mel_matrix():
    """spectrogram_to_mel_matrix(64, 257, 16000, 125, 7500), one band at a time, in float64."""
    def hz_to_mel(f):
        return 1127.0 * np.log(1.0 + f / 700.0)

    bins = hz_to_mel(np.linspace(0.0, 8000.0, 257))
    edges = np.linspace(hz_to_mel(125.0), hz_to_mel(7500.0), 66)
    out = np.empty((257, 64))
    for i in range(64):
        lo, c, hi = edges[i:i + 3]
        out[:, i] = np.maximum(0.0, np.minimum((bins - lo) / (c - lo), (hi - bins) / (hi - c)))
    out[0, :] = 0.0
    return out


def _reference_examples(wave):
    """waveform_to_examples(wave, 16000) for 16 kHz mono float64 input: [P, 96, 64] float64."""
    n = 1 + (len(wave) - 400) // 160
    frames = np.stack([wave[i * 160:i * 160 + 400] for i in range(n)])
    window = 0.5 - 0.5 * np.cos(2 * np.pi / 400 * np.arange(400))          # periodic Hann
    magnitude = np.abs(np.fft.rfft(frames * window, 512))                   # zero-padded to 512
    spec = np.log(magnitude @ _reference_mel_matrix() + 0.01)
    p = 1 + (n - 96) // 96
    return np.stack([spec[k * 96:k * 96 + 96] for k in range(p)])


def test_mel_matrix_matches_reference():
    fb = mel_matrix()
    assert fb.shape == (257, 64) and fb.dtype == np.float32
    assert float(np.abs(fb - _reference_mel_matrix()).max()) < 1e-6
    assert not fb[0].any() and (fb.max(axis=0) > 0.5).all()   # no DC; every band has a peak


def _waves(rng):
    """3 s of noise, 3 s of a quiet tone over silence (low-energy frames), and 2.5 s of noise."""
    t = np.arange(48000) / 16000.0
    tone = np.where(t > 1.0, 1e-3 * np.sin(2 * np.pi * 440.0 * t), 0.0)
    return [rng.uniform(-1, 1, 48000), tone, rng.uniform(-1, 1, 40000)]


def test_log_mel_patches_match_reference():
    rng = np.random.default_rng(0)
    waves = _waves(rng)
    batch = np.stack(waves[:2]).astype(np.float32)
    got = np.asarray(jax.jit(log_mel_patches)(batch))
    assert num_frames(48000) == 298 and got.shape == (2, 3, 96, 64)   # 3 s -> 298 frames -> 3 patches
    short = np.asarray(log_mel_patches(waves[2].astype(np.float32)))
    assert num_frames(40000) == 248 and short.shape == (2, 96, 64)
    errs = []
    for out, wave in zip([got[0], got[1], short], waves):
        ref = _reference_examples(wave.astype(np.float32).astype(np.float64))
        assert out.shape == ref.shape
        errs.append(float(np.abs(out - ref).max()))
    assert max(errs) < 1e-4, errs
    assert float(got[1, 0, :90].max()) == pytest.approx(np.log(0.01), abs=1e-6)   # silence -> log(0.01)


def test_log_mel_patches_tone_lands_in_its_band():
    band = 20
    freq = 31.25 * int(np.argmax(mel_matrix()[:, band]))        # the FFT bin at the band's peak
    wave = 0.5 * np.sin(2 * np.pi * freq * np.arange(16000) / 16000.0)
    spec = np.asarray(log_mel_patches(wave.astype(np.float32)))
    assert spec.shape == (1, 96, 64)
    assert int(np.argmax(spec.mean(axis=(0, 1)))) == band


def test_log_mel_patches_too_short():
    assert log_mel_patches(jnp.zeros((2, 15600))).shape == (2, 1, 96, 64)   # 400 + 95 * 160
    with pytest.raises(ValueError, match="need at least 15600 samples"):
        log_mel_patches(jnp.zeros((2, 15599)))
    with pytest.raises(ValueError, match="need at least 15600 samples"):
        log_mel_patches(jnp.zeros((2, 100)))
