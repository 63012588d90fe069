"""Sound-source-localization data (SSPL / SACL): one frame + 3 s of audio per clip, two views.

`config.data.kind = "frame_audio"` routes `pipeline.train_dataset` / `pipeline.eval_batches`
here. Sources (`config.data.source`):

- "folder": the official layouts as files (methods/localization_sspl_sacl.md, 1.1 and 2.2):
      <root>/<train_list file>          ids, one per line or the first CSV column (a media extension
                                        such as ".mp3" is stripped)
      <root>/<train_frames>/<id>.jpg    the frame; or a folder <id>/ of frames, of which the middle
                                        one is taken (SSPL's h5 script takes the middle .jpg)
      <root>/<train_audio>/<id>.wav     any soundfile format (wav, flac, ogg, mp3), or .npz (an
                                        "audio" array, optional "sample_rate") / .npy at
                                        `data.sample_rate`
  The test sets: Flickr-SoundNet (`flickr_test249_in5k.csv`, frames/<id>.jpg, audio/<id>.wav,
  Annotations/<id>.xml) and VGG-SS (`vggss_test_4692.csv`, frames, audio, `vggss_test_5158.json`).
- "synthetic": the synthetic AV world (`avjax.data.synthetic`): the frame at `data.frame_time`
  (-1: the middle frame, as SSPL), the 3 s of audio centred on it; the ground truth is the
  sounding object's box at that time (`SyntheticWorld.boxes`).

Host side (Grain workers), per clip, exactly as the official datasets:

    frame:  RGB, resized to data.frame_size x data.frame_size with PIL bicubic (the h5
            preparation step: cv2 INTER_CUBIC 256 x 256; 0 keeps the file's size)
    audio:  mono at 16 kHz (resampled with scipy's polyphase filter when the file has another
            rate; librosa.load uses soxr), tiled when shorter than 3 s, the centred 48,000
            samples, then `normalize_audio` (min-max to [-1, 1))
    view (training, twice, independently):
            "short_side" (SSPL): Resize(short side -> int(crop * 1.1), bicubic) -> RandomCrop(crop)
                                 -> RandomHorizontalFlip
            "square" (SACL):     Resize((int(crop * 1.1),) * 2, bicubic) -> RandomCrop -> flip;
                                 the pseudo mask goes through the same geometry
    test:   "short_side_center_crop" (SSPL): Resize(short side -> crop, bicubic) -> CenterCrop
            "square" (SACL): Resize((crop, crop), bicubic)

SACL's pseudo masks (`data.pseudo_mask`): "felzenszwalb" (scale 1000, sigma 0.5, min_size 1000
on the stored frame, skimage's algorithm; skimage's compiled version is used when installed) or
"grid" (`data.grid_size` x `data.grid_size` blocks with randomly permuted labels). The official
code resizes the label mask with the image's bicubic filter, which blends labels at segment
borders; that quirk is `data.mask_resize = "bicubic"`; the default is "nearest".

A file that cannot be read (missing, truncated, not an image / audio) raises `MediaError`
naming it; training replaces the clip by the next one and counts it (`bad_records`, added up
by `pipeline.BadRecordCounter`), and stops with that one-line error after
`pipeline.MAX_CONSECUTIVE_BAD` in a row; evaluation masks the clip out and counts it.

Batches: training {image1, image2: uint8 [B, crop, crop, 3], audio: float32 [B, 48000]
(+ mask1, mask2: uint8 [B, crop, crop])}; evaluation {image, audio, label, index, mask}.
"""
from __future__ import annotations

import dataclasses
import logging
import math
import os

import grain
import numpy as np
from PIL import Image

from avjax.data import localization_sets, records, synthetic

log = logging.getLogger("avjax.data")

MEDIA_EXTENSIONS = (".jpg", ".jpeg", ".png", ".mp3", ".wav", ".flac", ".mp4", ".npz", ".npy")
FLICKR, VGGSS = "flickr", "vggss"


class MediaError(records.RecordError):
    """A frame or audio file that cannot be read; the message names the file."""


# ---------------------------------------------------------------------------------------------
# Audio and frames.
# ---------------------------------------------------------------------------------------------

def normalize_audio(x: np.ndarray) -> np.ndarray:
    """SSPL / SACL `utils.normalize_audio`: x -= min; x /= (max + 1e-3); (x - 0.5) * 2."""
    x = np.asarray(x, np.float32) - np.min(x)
    x = x / (np.max(x) + np.float32(1e-3))
    return (x - np.float32(0.5)) * np.float32(2.0)


def center_window(wave: np.ndarray, num_samples: int) -> np.ndarray:
    """`_load_audio`: tile a clip shorter than `num_samples` (int(n / len) + 1 copies), then the
    window [int(len / 2) - int(n / 2), + n)."""
    wave = np.asarray(wave, np.float32)
    if wave.size == 0:
        raise ValueError("empty audio")
    if wave.size < num_samples:
        wave = np.tile(wave, int(num_samples / wave.size) + 1)
    start = int(wave.size / 2) - int(num_samples / 2)
    return wave[start:start + num_samples]


def read_audio(path: str, sample_rate: int) -> np.ndarray:
    """A file's audio as mono float32 [S] at `sample_rate`; MediaError naming the file if unreadable."""
    if not os.path.isfile(path):
        raise MediaError(f"{path}: audio file not found")
    try:
        if path.endswith((".npz", ".npy")):
            data = np.load(path)
            if isinstance(data, np.lib.npyio.NpzFile):
                key = "audio" if "audio" in data.files else data.files[0]
                rate = int(data["sample_rate"]) if "sample_rate" in data.files else sample_rate
                wave = data[key]
            else:
                wave, rate = data, sample_rate
        else:
            import soundfile
            wave, rate = soundfile.read(path, dtype="float32", always_2d=True)
            wave = wave.mean(axis=1)
        wave = np.asarray(wave, np.float32)
        if wave.ndim == 2:
            wave = wave.mean(axis=0 if wave.shape[0] < wave.shape[1] else 1)
        if rate != sample_rate:
            from scipy.signal import resample_poly
            g = math.gcd(int(rate), int(sample_rate))
            wave = resample_poly(wave, sample_rate // g, int(rate) // g).astype(np.float32)
        if wave.ndim != 1 or wave.size == 0 or not np.all(np.isfinite(wave)):
            raise ValueError(f"audio of shape {wave.shape} (need a non-empty, finite signal)")
        return wave
    except Exception as e:  # noqa: BLE001 - any decoder failure is a bad file, named
        raise MediaError(f"{path}: cannot read audio ({type(e).__name__}: {e})") from None


def read_frame(path: str, size: int = 256) -> np.ndarray:
    """uint8 [size, size, 3] RGB (bicubic; size 0 keeps the file's size). A folder: its middle
    frame (sorted names, index len // 2, as SSPL's h5 script)."""
    try:
        if os.path.isdir(path):
            frames = sorted(f for f in os.listdir(path) if f.lower().endswith((".jpg", ".jpeg", ".png")))
            if not frames:
                raise MediaError(f"{path}: the frame folder holds no .jpg/.png")
            path = os.path.join(path, frames[len(frames) // 2])
        with Image.open(path) as img:
            img = img.convert("RGB")
            if size:
                img = img.resize((size, size), Image.BICUBIC)
            return np.asarray(img, np.uint8)
    except MediaError:
        raise
    except FileNotFoundError:
        raise MediaError(f"{path}: frame not found") from None
    except Exception as e:  # noqa: BLE001 - PIL raises many kinds for a broken image
        raise MediaError(f"{path}: cannot read the frame ({type(e).__name__}: {e})") from None


# ---------------------------------------------------------------------------------------------
# SACL pseudo masks.
# ---------------------------------------------------------------------------------------------

def grid_mask(size: int, grid: int, rng: np.random.Generator) -> np.ndarray:
    """`--gridSize`: uint8 [size, size], grid x grid blocks of side size // grid, labels a random
    permutation of 0..grid^2-1 (pixels past grid * (size // grid) stay 0, as the official code)."""
    block = size // grid
    mask = np.zeros((size, size), np.uint8)
    for i, label in enumerate(rng.permutation(grid * grid)):
        r, c = divmod(i, grid)
        mask[r * block:(r + 1) * block, c * block:(c + 1) * block] = label
    return mask


def felzenszwalb(image: np.ndarray, scale: float = 1000, sigma: float = 0.5, min_size: int = 1000) -> np.ndarray:
    """`skimage.segmentation.felzenszwalb` (channel_axis=-1): int [H, W] segment labels 0..K-1.

    skimage's compiled implementation when it is installed; otherwise this port of it
    (`_felzenszwalb_cy.pyx`): Gaussian smoothing per channel (reflect), 8-connected edges weighted
    by the Euclidean colour distance, Kruskal order with the threshold cint + scale / size
    (float32, as the Cython), then segments smaller than `min_size` merged along the sorted
    edges. A Python loop over the edges: ~1 s for 256 x 256 (skimage: ~30 ms).
    """
    try:
        from skimage.segmentation import felzenszwalb as sk_felzenszwalb
    except ImportError:
        return felzenszwalb_numpy(image, scale, sigma, min_size)
    return sk_felzenszwalb(image, scale=scale, sigma=sigma, min_size=min_size, channel_axis=-1)


def felzenszwalb_numpy(image: np.ndarray, scale: float = 1000, sigma: float = 0.5, min_size: int = 1000) -> np.ndarray:
    """The NumPy / Python port of skimage's felzenszwalb (see `felzenszwalb`)."""
    from scipy import ndimage
    img = np.asarray(image)
    if img.ndim == 2:
        img = img[..., None]
    img = img.astype(np.float64) / 255.0 if img.dtype == np.uint8 else img.astype(np.float64)
    img = np.stack([ndimage.gaussian_filter(img[..., c], sigma=sigma, mode="reflect", truncate=4.0)
                    for c in range(img.shape[-1])], axis=-1)
    scale = float(scale) / 255.0
    h, w = img.shape[:2]

    def dist(a, b):
        return np.sqrt(np.sum((a - b) * (a - b), axis=-1)).ravel()

    ids = np.arange(h * w).reshape(h, w)
    costs = np.concatenate([dist(img[:, 1:], img[:, :-1]), dist(img[1:], img[:-1]),
                            dist(img[1:, 1:], img[:-1, :-1]), dist(img[1:, :-1], img[:-1, 1:])])
    edges = np.concatenate([np.c_[ids[:, 1:].ravel(), ids[:, :-1].ravel()], np.c_[ids[1:].ravel(), ids[:-1].ravel()],
                            np.c_[ids[1:, 1:].ravel(), ids[:-1, :-1].ravel()],
                            np.c_[ids[:-1, 1:].ravel(), ids[1:, :-1].ravel()]])
    order = np.argsort(costs)  # numpy's default quicksort, as the Cython's np.argsort
    costs, e0, e1 = costs[order].tolist(), edges[order, 0].tolist(), edges[order, 1].tolist()
    forest, size, cint = list(range(h * w)), [1] * (h * w), [0.0] * (h * w)
    f32 = np.float32

    def find(n):
        while forest[n] < n:
            n = forest[n]
        return n

    def join(n, m):  # skimage's join_trees: the smaller index becomes the root of both paths
        root = min(find(n), find(m))
        for x in (n, m):
            while forest[x] < x:
                forest[x], x = root, forest[x]
            forest[x] = root
        return root

    for cost, a, b in zip(costs, e0, e1):
        s0, s1 = find(a), find(b)
        if s0 == s1:
            continue
        if cost < min(float(f32(cint[s0] + scale / size[s0])), float(f32(cint[s1] + scale / size[s1]))):
            new = join(s0, s1)
            size[new] = size[s0] + size[s1]
            cint[new] = cost
    for a, b in zip(e0, e1):
        s0, s1 = find(a), find(b)
        if s0 != s1 and (size[s0] < min_size or size[s1] < min_size):
            new = join(s0, s1)
            size[new] = size[s0] + size[s1]
    roots = np.array([find(n) for n in range(h * w)])
    return np.unique(roots, return_inverse=True)[1].reshape(h, w)


# ---------------------------------------------------------------------------------------------
# Views (host, uint8, PIL: torchvision's PIL transforms).
# ---------------------------------------------------------------------------------------------

TRAIN_RESIZES = ("short_side", "square")
TEST_RESIZES = ("short_side_center_crop", "square")
MASK_RESIZES = ("nearest", "bicubic")


@dataclasses.dataclass(frozen=True)
class ViewSpec:
    crop: int = 224
    train_resize: str = "short_side"
    resize_factor: float = 1.1
    test_resize: str = "short_side_center_crop"
    mask_resize: str = "nearest"

    def __post_init__(self):
        for field, allowed in (("train_resize", TRAIN_RESIZES), ("test_resize", TEST_RESIZES),
                               ("mask_resize", MASK_RESIZES)):
            if getattr(self, field) not in allowed:
                raise ValueError(f"config.image.{field}={getattr(self, field)!r}: use one of {allowed}")

    @classmethod
    def from_config(cls, config) -> "ViewSpec":
        im = config.image
        return cls(crop=im.crop_size, train_resize=im.train_resize, resize_factor=im.resize_factor,
                   test_resize=im.test_resize, mask_resize=config.data.get("mask_resize", "nearest"))


def _short_side_size(w: int, h: int, size: int) -> tuple[int, int]:
    """torchvision Resize(int) on PIL: the short side to `size`, the long one int(size * long / short)."""
    return (size, int(size * h / w)) if w <= h else (int(size * w / h), size)


def train_view(frame: np.ndarray, rng: np.random.Generator, spec: ViewSpec, mask: np.ndarray | None = None):
    """One training view: uint8 [crop, crop, 3] (and the mask, uint8 [crop, crop], same geometry)."""
    img = Image.fromarray(frame)
    target = int(spec.crop * spec.resize_factor)
    size = (target, target) if spec.train_resize == "square" else _short_side_size(*img.size, target)
    img = img.resize(size, Image.BICUBIC)
    top = int(rng.integers(0, size[1] - spec.crop + 1))
    left = int(rng.integers(0, size[0] - spec.crop + 1))
    flip = bool(rng.random() < 0.5)
    box = (left, top, left + spec.crop, top + spec.crop)
    out = np.asarray(img.crop(box))
    out = out[:, ::-1] if flip else out
    if mask is None:
        return np.ascontiguousarray(out), None
    # torchvision resizes a uint8 'L' label image with the image's filter (bicubic: the quirk).
    m = Image.fromarray(np.asarray(mask, np.uint8)).resize(
        size, Image.BICUBIC if spec.mask_resize == "bicubic" else Image.NEAREST)
    m = np.asarray(m.crop(box))
    return np.ascontiguousarray(out), np.ascontiguousarray(m[:, ::-1] if flip else m)


def test_view(frame: np.ndarray, spec: ViewSpec) -> np.ndarray:
    """The test transform: uint8 [crop, crop, 3]."""
    img = Image.fromarray(frame)
    if spec.test_resize == "square":
        return np.asarray(img.resize((spec.crop, spec.crop), Image.BICUBIC))
    w, h = _short_side_size(*img.size, spec.crop)
    img = img.resize((w, h), Image.BICUBIC)
    left, top = int(round((w - spec.crop) / 2.0)), int(round((h - spec.crop) / 2.0))  # torchvision CenterCrop
    return np.asarray(img.crop((left, top, left + spec.crop, top + spec.crop)))


# ---------------------------------------------------------------------------------------------
# Sources: random access to (frame, audio) pairs by index.
# ---------------------------------------------------------------------------------------------

class SyntheticPairs:
    """The synthetic world as (frame, 3 s audio) pairs; `boxes(i)` is the sounding object's box."""

    def __init__(self, world: synthetic.SyntheticWorld, seconds: float, frame_time: float = -1.0):
        self.world = world
        c = world.config
        n_frames = max(int(round(c.duration * c.fps)), 1)
        self.time = (n_frames // 2) / c.fps if frame_time < 0 else float(frame_time)  # the middle frame
        self.num_samples = int(round(seconds * c.sample_rate))

    def __len__(self) -> int:
        return len(self.world)

    def name(self, i: int) -> str:
        return f"{self.world.config.split}_{int(i):06d}"

    def frame(self, i: int) -> np.ndarray:
        return self.world.video(int(i), self.time, 1, self.world.config.fps)[0]

    def audio(self, i: int) -> np.ndarray:
        sr = self.world.config.sample_rate
        start = self.time - self.num_samples / sr / 2
        return normalize_audio(self.world.audio(int(i), start, self.num_samples))

    def boxes(self, i: int) -> np.ndarray:
        """float32 [1, 4] (x0, y0, x1, y1) in [0, 1] of the whole frame."""
        return self.world.boxes(int(i), [self.time])


class FolderPairs:
    """Frames and audio files named by id (see the module docstring)."""

    def __init__(self, ids: list[str], frame_dir: str, audio_dir: str, *, frame_ext: str = ".jpg",
                 audio_ext: str = ".wav", frame_size: int = 256, sample_rate: int = 16000, seconds: float = 3.0):
        self.ids, self.frame_dir, self.audio_dir = list(ids), frame_dir, audio_dir
        self.frame_ext, self.audio_ext = frame_ext, audio_ext
        self.frame_size, self.sample_rate = frame_size, sample_rate
        self.num_samples = int(round(seconds * sample_rate))

    def __len__(self) -> int:
        return len(self.ids)

    def name(self, i: int) -> str:
        return self.ids[int(i)]

    def frame(self, i: int) -> np.ndarray:
        base = os.path.join(self.frame_dir, self.ids[int(i)])
        return read_frame(base if os.path.isdir(base) else base + self.frame_ext, self.frame_size)

    def audio(self, i: int) -> np.ndarray:
        wave = read_audio(os.path.join(self.audio_dir, self.ids[int(i)] + self.audio_ext), self.sample_rate)
        return normalize_audio(center_window(wave, self.num_samples))


def read_id_list(path: str, field: str) -> list[str]:
    """Ids of a training / test list: one a line or the first CSV column; media extensions stripped."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"config.data.{field}: list file {path!r} not found")
    ids = localization_sets.read_test_ids(path)
    ids = [i[: -len(ext)] if (ext := os.path.splitext(i)[1].lower()) in MEDIA_EXTENSIONS else i for i in ids]
    if not ids:
        raise ValueError(f"config.data.{field}: {path!r} lists no ids")
    return ids


def _under_root(data_cfg, path: str) -> str:
    return path if os.path.isabs(path) else os.path.join(data_cfg.root, path)


def _check_root(data_cfg) -> None:
    root = data_cfg.get("root", "")
    if not root:
        raise ValueError("config.data.root is empty: set it to the dataset folder (--config.data.root=DIR)")
    if not os.path.isdir(root):
        raise FileNotFoundError(f"config.data.root={root!r}: no such folder")


def _world(data_cfg, split: str, num: int) -> synthetic.SyntheticWorld:
    return synthetic.SyntheticWorld(synthetic.WorldConfig(
        num_clips=int(num), seed=data_cfg.world_seed, split=split, duration=data_cfg.duration,
        fps=data_cfg.native_fps, size=data_cfg.frame_size, sample_rate=data_cfg.sample_rate,
        max_distractors=data_cfg.max_distractors))


def train_source(config):
    d = config.data
    if d.source == "synthetic":
        return SyntheticPairs(_world(d, "train", d.num_train), config.audio.seconds, d.frame_time)
    if d.source != "folder":
        raise ValueError(f"config.data.source={d.source!r}: use 'folder' or 'synthetic' for frame_audio data")
    _check_root(d)
    lists = dict(d.train_lists)
    if d.train_list not in lists:
        raise ValueError(f"config.data.train_list={d.train_list!r}: use one of {sorted(lists)} "
                         "(config.data.train_lists names their files)")
    ids = read_id_list(_under_root(d, lists[d.train_list]), f"train_lists.{d.train_list}")
    return FolderPairs(ids, _under_root(d, d.train_frames), _under_root(d, d.train_audio), frame_ext=d.frame_ext,
                       audio_ext=d.audio_ext, frame_size=d.frame_size, sample_rate=d.sample_rate,
                       seconds=config.audio.seconds)


def eval_source(config):
    d = config.data
    if d.source == "synthetic":
        return SyntheticPairs(_world(d, "eval", d.num_eval), config.audio.seconds, d.frame_time)
    if d.source != "folder":
        raise ValueError(f"config.data.source={d.source!r}: use 'folder' or 'synthetic' for frame_audio data")
    _check_root(d)
    if d.test_set not in (FLICKR, VGGSS):
        raise ValueError(f"config.data.test_set={d.test_set!r}: use {FLICKR!r} or {VGGSS!r}")
    ids = read_id_list(_under_root(d, d.test_list), "test_list")
    return FolderPairs(ids, _under_root(d, d.test_frames), _under_root(d, d.test_audio), frame_ext=d.frame_ext,
                       audio_ext=d.audio_ext, frame_size=d.test_frame_size, sample_rate=d.sample_rate,
                       seconds=config.audio.seconds)


def gt_maps(config, source, indices) -> np.ndarray:
    """Ground-truth maps of the eval clips `indices`: [N, 224, 224] float32 in [0, 1]."""
    size = localization_sets.GT_SIZE
    indices = [int(i) for i in indices]
    if isinstance(source, SyntheticPairs):
        # The test view shows the whole (square) frame: the box maps as VGG-SS boxes do.
        return np.stack([localization_sets.box_union_map(
            np.array([[int(size * max(float(v), 0.0)) for v in box] for box in source.boxes(i)]), size)
            for i in indices]) if indices else np.zeros((0, size, size), np.float32)
    d = config.data
    names = [source.name(i) for i in indices]
    if d.test_set == FLICKR:
        return localization_sets.load_flickr_gt(_under_root(d, d.test_annotations), names, size)
    return localization_sets.load_vggss_gt(_under_root(d, d.test_annotations), names, size)[1]


# ---------------------------------------------------------------------------------------------
# Per-example transforms (Grain) and the datasets.
# ---------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class MaskSpec:
    kind: str = "felzenszwalb"      # "felzenszwalb" | "grid"
    grid_size: int = 1
    scale: float = 1000.0
    sigma: float = 0.5
    min_size: int = 1000

    @classmethod
    def from_config(cls, data_cfg) -> "MaskSpec | None":
        kind = data_cfg.get("pseudo_mask", "none")
        if kind == "none":
            return None
        if kind not in ("felzenszwalb", "grid"):
            raise ValueError(f"config.data.pseudo_mask={kind!r}: use 'felzenszwalb', 'grid' or 'none'")
        fh = data_cfg.get("felzenszwalb", {})
        return cls(kind, int(data_cfg.get("grid_size", 1)), float(fh.get("scale", 1000)),
                   float(fh.get("sigma", 0.5)), int(fh.get("min_size", 1000)))

    def make(self, frame: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if self.kind == "grid":
            return grid_mask(frame.shape[0], self.grid_size, rng)
        # uint8 as the official `Image.fromarray(np.uint8(mask))` (labels wrap at 256).
        return felzenszwalb(frame, self.scale, self.sigma, self.min_size).astype(np.uint8)


class TrainSample:
    """index -> {image1, image2, audio (+ mask1, mask2), bad_records}; an unreadable clip is
    replaced by the next index (counted), up to MAX_CONSECUTIVE_BAD in a row."""

    def __init__(self, source, spec: ViewSpec, masks: MaskSpec | None, max_bad: int):
        self.source, self.spec, self.masks, self.max_bad = source, spec, masks, max_bad

    def sample(self, index: int, rng: np.random.Generator) -> dict:
        frame, audio = self.source.frame(index), self.source.audio(index)
        mask = self.masks.make(frame, rng) if self.masks is not None else None
        out = {"audio": audio}
        for view in (1, 2):
            out[f"image{view}"], m = train_view(frame, rng, self.spec, mask)
            if m is not None:
                out[f"mask{view}"] = m
        return out

    def __call__(self, index, rng: np.random.Generator) -> dict:
        index, bad = int(index), 0
        while True:
            try:
                out = self.sample(index, rng)
                out["bad_records"] = np.int32(bad)
                return out
            except records.RecordError as e:
                bad += 1
                log.warning("skipping clip %d: %s (%d in a row)", index, e, bad)
                if bad >= self.max_bad:
                    raise RuntimeError(f"{bad} unreadable clips in a row; the last: {e}") from None
                index = (index + 1) % len(self.source)


class EvalSample:
    """index -> {image: uint8 [crop, crop, 3], audio, label 0, index, mask}; -1 or a bad file is
    padding (mask 0; a bad file also counts in bad_records)."""

    def __init__(self, source, spec: ViewSpec):
        self.source, self.spec = source, spec

    def padding(self) -> dict:
        c = self.spec.crop
        return {"image": np.zeros((c, c, 3), np.uint8), "audio": np.zeros(self.source.num_samples, np.float32),
                "label": np.int32(0), "index": np.int32(-1), "mask": np.float32(0), "bad_records": np.int32(0)}

    def __call__(self, index) -> dict:
        index = int(index)
        if index < 0:
            return self.padding()
        try:
            return {"image": test_view(self.source.frame(index), self.spec), "audio": self.source.audio(index),
                    "label": np.int32(0), "index": np.int32(index), "mask": np.float32(1),
                    "bad_records": np.int32(0)}
        except records.RecordError as e:
            log.warning("eval: clip %d masked out: %s", index, e)
            return dict(self.padding(), bad_records=np.int32(1))


def train_dataset(config, process_index: int, process_count: int, batch_size: int):
    """The infinite training stream of this process (the pipeline's structure, see pipeline.py)."""
    from avjax.data import pipeline
    source = train_source(config)
    sample = TrainSample(source, ViewSpec.from_config(config), MaskSpec.from_config(config.data),
                         pipeline.MAX_CONSECUTIVE_BAD)
    ds = grain.MapDataset.range(len(source)).seed(config.seed).shuffle().repeat(None).random_map(sample)
    ds = ds.batch(batch_size, drop_remainder=True)[process_index::process_count]
    it = ds.to_iter_dataset(grain.ReadOptions(num_threads=config.data.num_threads,
                                               prefetch_buffer_size=config.data.prefetch))
    if config.data.num_workers > 0:
        pipeline._absl_flags_parsed()
        it = it.mp_prefetch(grain.MultiprocessingOptions(num_workers=config.data.num_workers))
    return it.map(pipeline.BadRecordCounter())


def eval_batches(config, split: str, num_clips: int | None, batch_size: int, process_index: int = 0,
                 process_count: int = 1):
    """Per-process batches of every test clip, in order, the last padded (mask 0); one split, "eval"."""
    from avjax.data import pipeline
    if split != "eval":
        raise ValueError(f"split {split!r}: frame_audio data has one evaluation split, 'eval' "
                         "(set config.eval.splits = ('eval',))")
    source = eval_source(config)
    n = len(source) if num_clips is None else min(num_clips, len(source))
    per_process = -(-n // process_count)
    num_batches = -(-per_process // batch_size)
    mine = list(range(process_index, n, process_count))
    mine += [-1] * (num_batches * batch_size - len(mine))
    ds = grain.MapDataset.source(mine).map(EvalSample(source, ViewSpec.from_config(config))).batch(batch_size)
    it = ds.to_iter_dataset(grain.ReadOptions(num_threads=max(1, config.data.num_threads),
                                               prefetch_buffer_size=max(1, config.data.prefetch)))
    counter = pipeline.BadRecordCounter()
    for batch in it:
        yield counter(batch)

