"""VGGish (the SSPL / SACL audio encoder) and its log-mel front end, in JAX.

Official: `torchvggish` (`vggish.py`, `vggish_input.waveform_to_examples`, `mel_features.py`,
`vggish_params.py`), a port of `tensorflow/models research/audioset/vggish`; SSPL and SACL vendor it.

Front end (`log_mel_patches`, on device, batched), from waveform_to_examples at 16 kHz:
    frames of 400 samples (25 ms) every 160 (10 ms), no padding: 1 + (S - 400) // 160 frames
    -> x periodic Hann(400) -> |rfft| with n = 512 (zero-padded; magnitude, not power)
    -> @ HTK mel matrix (64 bands, edges 125..7500 Hz, mel = 1127 ln(1 + f/700), DC row zeroed)
    -> log(mel + 0.01) -> non-overlapping 96-frame patches (0.96 s); a partial patch is dropped.
    wave [..., S] float32 -> [..., S_frames // 96, 96, 64]; 3 s (48,000 samples) -> 298 frames -> 3 patches.

Network (`VGGish`), torchvggish `VGG` with its `embeddings` (no PCA post-processing, as SSPL/SACL):
    patch [N, 96, 64(, 1)] -> conv64 - pool - conv128 - pool - conv256 x2 - pool - conv512 x2 - pool
    -> [N, 6, 4, 512] -> flatten in (H, W, C) order -> 12288 -> 4096 -> 4096 -> 128, each + ReLU.
    72,141,184 parameters. SSPL/SACL use this 128-d (non-negative) embedding per patch and average
    it over the 3 patches of a clip.
torchvggish transposes its NCHW map to NHWC before `view(N, -1)` (to match the TF graph), so the
Flax NHWC map flattens in the same order and the Linear weights import with a plain transpose.
Convs are 3x3 stride 1 padding 1, pools 2x2 stride 2. Official weights map by index:
    features.{0,3,6,8,11,13} -> conv1, conv2, conv3_1, conv3_2, conv4_1, conv4_2
    embeddings.{0,2,4}       -> fc1_1, fc1_2, fc2         (the TF layer names)
    Conv2d weight [Cout, Cin, 3, 3] -> kernel [3, 3, Cin, Cout]; Linear [out, in] -> kernel [in, out].
"""
from __future__ import annotations

import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from avjax.audio import _frame, _hann
from avjax.models import max_pool, torch_default_bias_init, torch_default_kernel_init
from avjax.models.heads import linear

# vggish_params.py
SAMPLE_RATE = 16000
WINDOW_LENGTH = 400          # round(16000 * 0.025)
HOP_LENGTH = 160             # round(16000 * 0.010)
FFT_LENGTH = 512             # next power of two >= the window
NUM_MEL_BINS = 64
MEL_MIN_HZ = 125.0
MEL_MAX_HZ = 7500.0
LOG_OFFSET = 0.01
PATCH_FRAMES = 96            # round(0.96 s / 10 ms); patches do not overlap (hop 0.96 s)
EMBEDDING_SIZE = 128

# Conv stack: (name, width), a max-pool after the names in POOL_AFTER; torchvggish indices in TORCH_INDEX.
CONVS = (("conv1", 64), ("conv2", 128), ("conv3_1", 256), ("conv3_2", 256),
         ("conv4_1", 512), ("conv4_2", 512))
POOL_AFTER = ("conv1", "conv2", "conv3_2", "conv4_2")
FCS = (("fc1_1", 4096), ("fc1_2", 4096), ("fc2", EMBEDDING_SIZE))
TORCH_INDEX = {"conv1": "features.0", "conv2": "features.3", "conv3_1": "features.6",
               "conv3_2": "features.8", "conv4_1": "features.11", "conv4_2": "features.13",
               "fc1_1": "embeddings.0", "fc1_2": "embeddings.2", "fc2": "embeddings.4"}


# --------------------------------------------------------------------------------------------
# Front end
# --------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def mel_matrix() -> np.ndarray:
    """HTK mel weights of `mel_features.spectrogram_to_mel_matrix` for VGGish: `[257, 64] float32`.

    Triangles are linear in mel between equally spaced mel edges; built in float64 once and baked
    into the graph. Read-only.
    """
    def hz_to_mel(f):
        return 1127.0 * np.log(1.0 + f / 700.0)

    bins_mel = hz_to_mel(np.linspace(0.0, SAMPLE_RATE / 2.0, FFT_LENGTH // 2 + 1))[:, None]
    edges = np.linspace(hz_to_mel(MEL_MIN_HZ), hz_to_mel(MEL_MAX_HZ), NUM_MEL_BINS + 2)
    lower, center, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (bins_mel - lower) / (center - lower)
    falling = (upper - bins_mel) / (upper - center)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights[0, :] = 0.0   # HTK leaves out the DC bin
    weights = weights.astype(np.float32)
    weights.setflags(write=False)
    return weights


def num_frames(num_samples: int) -> int:
    """Log-mel frames VGGish gets from `num_samples` (framing without padding)."""
    return 1 + (num_samples - WINDOW_LENGTH) // HOP_LENGTH


def log_mel(wave: jax.Array) -> jax.Array:
    """VGGish log-mel spectrogram. wave: [..., S] float32 at 16 kHz, S >= 400.

    Returns [..., num_frames(S), 64] float32 (time, mel), `log(|STFT| @ mel_matrix + 0.01)`.
    """
    wave = jnp.asarray(wave, jnp.float32)
    lead, s = wave.shape[:-1], wave.shape[-1]
    if s < WINDOW_LENGTH:
        raise ValueError(f"VGGish log_mel: {s} samples is shorter than one {WINDOW_LENGTH}-sample "
                         f"window (25 ms at 16 kHz); pad the audio on the host first.")
    n = num_frames(s)
    frames = _frame(wave.reshape(-1, s), WINDOW_LENGTH, HOP_LENGTH, n) * _hann(WINDOW_LENGTH)
    magnitude = jnp.abs(jnp.fft.rfft(frames, n=FFT_LENGTH, axis=-1))
    mel = jnp.einsum("...tf,fm->...tm", magnitude, jnp.asarray(mel_matrix()),
                     precision=jax.lax.Precision.HIGHEST)
    return jnp.log(mel + LOG_OFFSET).reshape(*lead, n, NUM_MEL_BINS)


def log_mel_patches(wave: jax.Array) -> jax.Array:
    """`waveform_to_examples` at 16 kHz, batched: wave [..., S] float32 -> [..., P, 96, 64] float32.

    P = num_frames(S) // 96 non-overlapping 0.96 s patches (3 s -> 3); trailing frames that do not
    fill a patch are dropped, as torchvggish does. Resampling to 16 kHz is the host's job.
    """
    wave = jnp.asarray(wave)
    s = wave.shape[-1]
    patches = num_frames(s) // PATCH_FRAMES if s >= WINDOW_LENGTH else 0
    if patches < 1:
        need = WINDOW_LENGTH + (PATCH_FRAMES - 1) * HOP_LENGTH
        raise ValueError(f"VGGish log_mel_patches: {s} samples give no full 0.96 s patch; need at "
                         f"least {need} samples at 16 kHz.")
    spec = log_mel(wave)[..., :patches * PATCH_FRAMES, :]
    return spec.reshape(*spec.shape[:-2], patches, PATCH_FRAMES, NUM_MEL_BINS)


# --------------------------------------------------------------------------------------------
# Network
# --------------------------------------------------------------------------------------------

class VGGish(nn.Module):
    """torchvggish VGG (features + embeddings), 72,141,184 parameters.

    __call__(patches [..., 96, 64] or [..., 96, 64, 1] float) -> [..., 128] float32 embeddings
    (after the last ReLU, as torchvggish; leading dims are kept, e.g. [B, 3, 96, 64] -> [B, 3, 128]).
    PyTorch default initialisers (torchvggish does not re-initialise).
    """
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x):
        if x.ndim >= 3 and x.shape[-2:] == (PATCH_FRAMES, NUM_MEL_BINS):
            x = x[..., None]
        if x.ndim < 4 or x.shape[-3:] != (PATCH_FRAMES, NUM_MEL_BINS, 1):
            raise ValueError(f"VGGish expects log-mel patches [..., {PATCH_FRAMES}, {NUM_MEL_BINS}] "
                             f"(or with a trailing channel of 1), got shape {x.shape}.")
        lead = x.shape[:-3]
        x = x.reshape(-1, PATCH_FRAMES, NUM_MEL_BINS, 1).astype(self.dtype)
        for name, width in CONVS:
            fan_in = 9 * x.shape[-1]
            x = nn.Conv(width, (3, 3), padding=((1, 1), (1, 1)), dtype=self.dtype,
                        param_dtype=jnp.float32,
                        kernel_init=nn.with_logical_partitioning(torch_default_kernel_init(),
                                                                 (None, None, "in", "out")),
                        bias_init=torch_default_bias_init(fan_in), name=name)(x)
            x = nn.relu(x)
            if name in POOL_AFTER:
                x = max_pool(x, (2, 2), (2, 2), ((0, 0), (0, 0)))
        x = x.reshape(x.shape[0], -1)   # (H, W, C) order = torchvggish's transpose + view
        for name, width in FCS:
            x = nn.relu(linear(width, x.shape[-1], self.dtype, name)(x))
        return x.astype(jnp.float32).reshape(*lead, EMBEDDING_SIZE)
