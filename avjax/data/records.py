"""The clip record: JPEG frames + int16 PCM + labels + metadata in one byte string.

One record per clip, as one ArrayRecord entry. Layout (little endian):

    b"AVJR" | version u16 | header_len u32 | header (UTF-8 JSON)
    | frame offsets u32 [F + 1] | F JPEG images back to back | PCM int16 [S]

The header holds the metadata (`id`, `label`, `labels`, `split`, `start`, `end`, `duration`,
`fps`, `num_frames`, `height`, `width`, `sample_rate`, `num_samples`, `meta`). The offsets
table gives every frame's byte range relative to the start of the JPEG block, so ONE chosen frame
is JPEG-decoded without touching the others, and the PCM block is sliced by sample index without
decoding anything. Frame k shows time k / fps and sample n is at time n / sample_rate, both from
the record's origin (the first video frame of the clip, `start` seconds into the source file).

Decoding uses simplejpeg (libjpeg-turbo) and falls back to PIL. Any corruption raises
`RecordError`, which the pipeline counts and skips (see `avjax.data.pipeline`).

    rec = ClipRecord(encode(frames_jpeg=[...], pcm=int16 [S], fps=16, sample_rate=16000, ...))
    rec.frame(3) -> uint8 [H, W, 3]      rec.pcm(1600, 3200) -> int16 [1600]
    rec.video(start, num_frames, fps) -> uint8 [T, H, W, 3]   (the frame on screen at each time)
    rec.audio(start, num_samples) -> float32 [S] in [-1, 1]   (zero outside the stream)
"""
from __future__ import annotations

import io
import json
import math
import struct
from typing import Any, Sequence

import numpy as np

MAGIC = b"AVJR"
VERSION = 1
_PREFIX = struct.Struct("<4sHI")
# A frame time this close below a frame boundary counts as on the boundary (float rounding).
TIME_EPS = 1e-6

try:  # libjpeg-turbo; PIL is the fallback
    import simplejpeg as _simplejpeg
except ImportError:  # pragma: no cover - simplejpeg is a core dependency
    _simplejpeg = None


class RecordError(ValueError):
    """A record (or one of its frames) is corrupt or not a clip record."""


# ---------------------------------------------------------------------------------------------
# JPEG.
# ---------------------------------------------------------------------------------------------

def encode_jpeg(frame: np.ndarray, quality: int = 90) -> bytes:
    """uint8 [H, W, 3] RGB -> JPEG bytes (4:2:0)."""
    frame = np.ascontiguousarray(frame, dtype=np.uint8)
    if _simplejpeg is not None:
        return _simplejpeg.encode_jpeg(frame, quality=quality, colorspace="RGB", colorsubsampling="420")
    from PIL import Image
    buf = io.BytesIO()
    Image.fromarray(frame).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def decode_jpeg(data: bytes, use_simplejpeg: bool = True) -> np.ndarray:
    """JPEG bytes -> uint8 [H, W, 3] RGB; raises RecordError if the bytes are not a JPEG image."""
    try:
        if use_simplejpeg and _simplejpeg is not None:
            return _simplejpeg.decode_jpeg(data, colorspace="RGB")
        from PIL import Image
        with Image.open(io.BytesIO(data)) as img:
            return np.asarray(img.convert("RGB"))
    except Exception as e:  # simplejpeg raises ValueError; PIL OSError / SyntaxError
        raise RecordError(f"bad JPEG frame ({len(data)} bytes): {e}") from e


# ---------------------------------------------------------------------------------------------
# Encoding.
# ---------------------------------------------------------------------------------------------

def encode(*, frames_jpeg: Sequence[bytes], pcm: np.ndarray, fps: float, sample_rate: int,
           height: int = 0, width: int = 0, id: str = "", label: int = -1,
           labels: Sequence[int] = (), split: str = "", start: float = 0.0, end: float | None = None,
           duration: float | None = None, meta: dict[str, Any] | None = None) -> bytes:
    """One clip -> record bytes.

    frames_jpeg: F JPEG images at `fps` (frame k shows time k / fps); may be empty (audio only).
    pcm: int16 [S] mono at `sample_rate`; may be empty (video only).
    label: the first label (-1: none); labels: all labels (multi-label datasets).
    start / end: where the clip lies in its source file (seconds); duration: the source file's.
    """
    pcm = np.ascontiguousarray(pcm, dtype="<i2").reshape(-1)
    labels = [int(x) for x in labels] or ([int(label)] if label >= 0 else [])
    num_frames = len(frames_jpeg)
    clip_seconds = max(num_frames / fps if fps else 0.0, len(pcm) / sample_rate if sample_rate else 0.0)
    header = {
        "id": str(id), "label": int(label), "labels": labels, "split": split,
        "start": float(start), "end": float(start + clip_seconds if end is None else end),
        "duration": float(clip_seconds if duration is None else duration),
        "fps": float(fps), "num_frames": num_frames, "height": int(height), "width": int(width),
        "sample_rate": int(sample_rate), "num_samples": int(len(pcm)), "meta": meta or {},
    }
    head = json.dumps(header, separators=(",", ":")).encode()
    offsets = np.zeros(num_frames + 1, "<u4")
    np.cumsum([len(b) for b in frames_jpeg], out=offsets[1:])
    if offsets[-1] >= 2**32 - 1:
        raise ValueError("a clip record holds at most 4 GiB of JPEG frames")
    return b"".join([_PREFIX.pack(MAGIC, VERSION, len(head)), head, offsets.tobytes(), *frames_jpeg,
                     pcm.tobytes()])


# ---------------------------------------------------------------------------------------------
# Decoding.
# ---------------------------------------------------------------------------------------------

class ClipRecord:
    """A parsed view over record bytes: the header is read at once, media only on request.

    Also a clip of the source API (`avjax.data.sources`): `label`, `labels`, `video_duration`,
    `audio_duration`, `video(start, num_frames, fps)`, `audio(start, num_samples)`.
    """

    __slots__ = ("data", "header", "_offsets", "_jpeg_base", "_pcm_base", "_cache", "use_simplejpeg")

    def __init__(self, data: bytes, use_simplejpeg: bool = True):
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise RecordError(f"a clip record is bytes, got {type(data).__name__}")
        data = bytes(data) if not isinstance(data, bytes) else data
        try:
            magic, version, head_len = _PREFIX.unpack_from(data, 0)
        except struct.error as e:
            raise RecordError(f"record too short ({len(data)} bytes)") from e
        if magic != MAGIC:
            raise RecordError(f"not an avjax clip record (magic {magic!r})")
        if version != VERSION:
            raise RecordError(f"clip record version {version}; this avjax reads version {VERSION}")
        pos = _PREFIX.size
        try:
            self.header = json.loads(data[pos:pos + head_len])
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise RecordError(f"corrupt record header: {e}") from e
        pos += head_len
        n = int(self.header.get("num_frames", -1))
        num_samples = int(self.header.get("num_samples", -1))
        if n < 0 or num_samples < 0:
            raise RecordError("corrupt record header: no num_frames / num_samples")
        self._offsets = np.frombuffer(data, "<u4", n + 1, pos) if pos + 4 * (n + 1) <= len(data) else None
        if self._offsets is None:
            raise RecordError("record truncated inside its frame table")
        self._jpeg_base = pos + 4 * (n + 1)
        self._pcm_base = self._jpeg_base + int(self._offsets[-1])
        if self._pcm_base + 2 * num_samples != len(data):
            raise RecordError(f"record is {len(data)} bytes; its header says "
                              f"{self._pcm_base + 2 * num_samples}")
        self.data = data
        self._cache: dict[int, np.ndarray] = {}
        self.use_simplejpeg = use_simplejpeg

    # -- metadata -------------------------------------------------------------------------------
    @property
    def id(self) -> str:
        return self.header["id"]

    @property
    def label(self) -> int:
        return int(self.header["label"])

    @property
    def label_list(self) -> list[int]:
        return list(self.header["labels"])

    @property
    def fps(self) -> float:
        return float(self.header["fps"])

    @property
    def sample_rate(self) -> int:
        return int(self.header["sample_rate"])

    @property
    def num_frames(self) -> int:
        return int(self.header["num_frames"])

    @property
    def num_samples(self) -> int:
        return int(self.header["num_samples"])

    @property
    def video_duration(self) -> float:
        return self.num_frames / self.fps if self.num_frames else 0.0

    @property
    def audio_duration(self) -> float:
        return self.num_samples / self.sample_rate if self.num_samples else 0.0

    def multi_hot(self, num_classes: int) -> np.ndarray:
        """float32 [num_classes]: 1 at each of the clip's labels."""
        out = np.zeros(num_classes, np.float32)
        idx = [i for i in self.header["labels"] if 0 <= i < num_classes]
        out[idx] = 1.0
        return out

    # -- video ----------------------------------------------------------------------------------
    def frame_jpeg(self, k: int) -> bytes:
        a, b = int(self._offsets[k]), int(self._offsets[k + 1])
        return self.data[self._jpeg_base + a:self._jpeg_base + b]

    def frame(self, k: int) -> np.ndarray:
        """uint8 [H, W, 3]: stored frame k (decoded once per record object)."""
        if not 0 <= k < self.num_frames:
            raise IndexError(f"frame {k}: the record has {self.num_frames}")
        out = self._cache.get(k)
        if out is None:
            out = decode_jpeg(self.frame_jpeg(k), self.use_simplejpeg)
            self._cache[k] = out
        return out

    def frame_indices(self, start: float, num_frames: int, fps: float) -> np.ndarray:
        """int [T]: the stored frame on screen at times start + k / fps (clamped to the clip)."""
        t = start + np.arange(num_frames) / fps
        idx = np.floor(t * self.fps + TIME_EPS).astype(np.int64)
        return np.clip(idx, 0, max(self.num_frames - 1, 0))

    def video(self, start: float, num_frames: int, fps: float) -> np.ndarray:
        """uint8 [num_frames, H, W, 3]: frame k shows time start + k / fps; decodes only those."""
        if self.num_frames == 0:
            raise RecordError(f"record {self.id!r} has no video frames")
        frames = [self.frame(int(i)) for i in self.frame_indices(start, num_frames, fps)]
        shape = frames[0].shape
        if any(f.shape != shape for f in frames):
            raise RecordError(f"record {self.id!r}: frames of different sizes")
        return np.stack(frames)

    # -- audio ----------------------------------------------------------------------------------
    def pcm(self, lo: int, hi: int) -> np.ndarray:
        """int16 [hi - lo]: stored samples lo..hi (zero outside the stream); no other decoding."""
        out = np.zeros(max(hi - lo, 0), np.int16)
        a, b = max(lo, 0), min(hi, self.num_samples)
        if b > a:
            out[a - lo:b - lo] = np.frombuffer(self.data, "<i2", b - a, self._pcm_base + 2 * a)
        return out

    def audio(self, start: float, num_samples: int) -> np.ndarray:
        """float32 [num_samples] in [-1, 1]: sample k at time start + k / sample_rate (rounded to
        the sample grid); zero outside the stream; int16 / 32767 as the official loader."""
        n0 = int(round(start * self.sample_rate))
        return self.pcm(n0, n0 + num_samples).astype(np.float32) * np.float32(1 / 32767)

    def decode_all(self) -> dict[str, Any]:
        """Everything, decoded: frames uint8 [F, H, W, 3], pcm int16 [S], and the header."""
        frames = (np.stack([self.frame(k) for k in range(self.num_frames)]) if self.num_frames
                  else np.zeros((0, self.header["height"], self.header["width"], 3), np.uint8))
        return {**self.header, "frames": frames, "pcm": self.pcm(0, self.num_samples)}


def parse(data: bytes) -> ClipRecord:
    return ClipRecord(data)


def float_to_pcm(audio: np.ndarray) -> np.ndarray:
    """float [-1, 1] -> int16 (x 32767, rounded, clipped): the inverse of `ClipRecord.audio`."""
    return np.clip(np.round(np.asarray(audio, np.float64) * 32767), -32768, 32767).astype(np.int16)


def num_frames_at(duration: float, fps: float) -> int:
    """Frames of a `duration`-second stream on an `fps` grid (frame k at k / fps < duration)."""
    return max(int(math.ceil(duration * fps - TIME_EPS)), 0)
