"""Raw videos + metadata -> ArrayRecord shards of clip records + manifest.json (`avjax convert`).

    avjax convert --format kinetics --src K400/videos --meta K400/annotations --out shards/k400 \
        [--fps 16 --short-side 128 --sample-rate 16000 --workers N --records-per-shard 256]

What it writes in --out:
  <split>.array_record-00003-of-00040   shards of clip records (`avjax.data.records`)
  manifest.json                         counts per split and class, skipped inputs with the reason,
                                        class names, aliases, the conversion settings
  journal.jsonl                         one line per finished shard (its inputs, records, skips)
  settings.json                         the settings this folder was started with

Every input file is decoded once with PyAV (`decode_media`): frames are resampled to --fps by
picking, on each grid time k / fps, the frame on screen then (the last frame whose timestamp is at
or before it, as the official loader's `int(t * native_fps)`), which handles 25 / 30 fps and
variable frame rate alike; only picked frames are converted to RGB, resized (short side, never up)
and JPEG-encoded. Audio is resampled to --sample-rate mono int16 by `av.AudioResampler` and placed
by its timestamps, so both streams share the record's time origin (the first video frame, or the
segment start when a segment of a long file is cut out).

Inputs are processed by a pool of worker processes (--workers, default: all cores), in order; the
parent fills shards in sequence, writing each to `<name>.tmp` and renaming it when complete, then
appends it to the journal. Rerunning the same command resumes: journaled shards are kept, a shard
interrupted half way is redone from its first input, and no half shard is ever under a shard name.

An input that cannot be used is skipped and counted with its reason, never a crash:
  file_not_found   the metadata names it, the file is not there
  corrupt          PyAV cannot open or decode it (truncated, not a media file)
  no_video         no video stream (datasets that need one)
  no_audio         no audio stream (datasets that need one, e.g. pretraining sets)
  too_short        a needed stream is shorter than --min-seconds
A decode error after some frames keeps what was decoded (counted as `partial_decode`).
"""
from __future__ import annotations

import dataclasses
import json
import math
import multiprocessing as mp
import os
import sys
import time
import zlib
from typing import Any, Iterator

import numpy as np

from avjax.data import formats, records

SHARD_SUFFIX = ".array_record"
MANIFEST = "manifest.json"
JOURNAL = "journal.jsonl"
SETTINGS = "settings.json"
SKIP_REASONS = ("file_not_found", "corrupt", "no_video", "no_audio", "too_short")


@dataclasses.dataclass(frozen=True)
class Settings:
    """How media are stored. `short_side` 0 keeps the native size; frames are never upscaled."""
    fps: float = 16.0
    short_side: int = 128
    sample_rate: int = 16000
    jpeg_quality: int = 90
    min_seconds: float = 1.1  # the official Kinetics filter: both streams longer than 1.1 s
    records_per_shard: int = 256

    def __post_init__(self):
        for name in ("fps", "sample_rate", "records_per_shard"):
            if not getattr(self, name) > 0:
                raise ValueError(f"--{name.replace('_', '-')}={getattr(self, name)!r}: must be > 0")
        if self.short_side < 0:
            raise ValueError(f"--short-side={self.short_side}: must be >= 0 (0 keeps the native size)")
        if not 1 <= self.jpeg_quality <= 100:
            raise ValueError(f"--jpeg-quality={self.jpeg_quality}: must be in 1..100")


class MediaError(Exception):
    """An input that is skipped: `reason` is one of SKIP_REASONS."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason, self.detail = reason, detail


# ---------------------------------------------------------------------------------------------
# Decoding one file.
# ---------------------------------------------------------------------------------------------

def _target_size(width: int, height: int, short_side: int) -> tuple[int, int]:
    short = min(width, height)
    if not short_side or short <= short_side:
        return width, height
    scale = short_side / short
    return max(1, int(round(width * scale))), max(1, int(round(height * scale)))


class _FramePicker:
    """Streams decoded frames (in presentation order) onto the grid k / fps: frame k of the output
    is the frame on screen at time k / fps (the last one whose time is <= k / fps)."""

    def __init__(self, settings: Settings):
        self.settings, self.dt = settings, 1.0 / settings.fps
        self.k = 0
        self.cur = None  # (av frame, time)
        self.cur_jpeg = None
        self.size = None
        self.jpegs: list[bytes] = []
        self.last_dt = None

    def _emit_until(self, t_limit: float):
        """Emit the current frame for every grid time < t_limit."""
        while self.k * self.dt < t_limit - records.TIME_EPS:
            if self.cur_jpeg is None:
                frame = self.cur[0]
                if self.size is None:
                    self.size = _target_size(frame.width, frame.height, self.settings.short_side)
                w, h = self.size
                rgb = frame.to_ndarray(width=w, height=h, format="rgb24", interpolation="AREA")
                self.cur_jpeg = records.encode_jpeg(rgb, self.settings.jpeg_quality)
            self.jpegs.append(self.cur_jpeg)
            self.k += 1

    def add(self, frame, t: float):
        if self.cur is not None:
            if t < self.cur[1] - records.TIME_EPS:
                return  # out of order (a broken stream): keep the stream monotonic
            self.last_dt = t - self.cur[1] if t > self.cur[1] else self.last_dt
            self._emit_until(t)
        elif t > 0:  # the first frame comes after the origin: it also stands for the times before
            self.cur, self.cur_jpeg = (frame, t), None
            self._emit_until(t)
        self.cur, self.cur_jpeg = (frame, t), None

    def finish(self, end: float | None, native_dt: float | None):
        """Emit the last frame until the end of the stream (its time + one frame)."""
        if self.cur is None:
            return
        stop = self.cur[1] + (native_dt or self.last_dt or self.dt)
        if end is not None:
            stop = min(stop, end)
        self._emit_until(max(stop, self.cur[1] + records.TIME_EPS * 2))
        self.cur = None


def decode_media(path: str, settings: Settings, segment: tuple[float, float] | None = None,
                 video: bool = True, audio: bool = True) -> dict[str, Any]:
    """One media file -> {frames_jpeg, pcm int16, height, width, start, end, duration, warnings}.

    segment: (start, end) seconds to keep when the file is longer than the segment (a full-length
    source video); a file no longer than the segment (already cut) is kept whole.
    Raises MediaError("corrupt" | "no_video" | "no_audio") for files that give nothing.
    """
    import av

    try:
        container = av.open(path, metadata_errors="ignore")
    except Exception as e:  # av.error.* (InvalidDataError, ...), OSError
        raise MediaError("corrupt", f"cannot open: {e}") from None
    with container:
        vstreams = list(container.streams.video) if video else []
        astreams = list(container.streams.audio) if audio else []
        vs = vstreams[0] if vstreams else None
        as_ = astreams[0] if astreams else None
        if vs is None and as_ is None:
            raise MediaError("corrupt", "no video or audio stream")
        duration = container.duration / 1e6 if container.duration else None
        cut = None
        if segment is not None and duration is not None and duration > (segment[1] - segment[0]) + 1.0:
            base = container.start_time / 1e6 if container.start_time else 0.0
            cut = (base + max(float(segment[0]), 0.0), base + float(segment[1]))
        native_dt = None
        if vs is not None:
            rate = vs.average_rate or vs.guessed_rate
            native_dt = 1.0 / float(rate) if rate else None
            vs.thread_type = "AUTO"
        warnings: list[str] = []
        picker = _FramePicker(settings)
        resampler = av.AudioResampler(format="s16", layout="mono", rate=settings.sample_rate) if as_ else None
        pcm_chunks: list[np.ndarray] = []
        audio_t0 = None  # time of the first resampled sample (container clock)
        origin = cut[0] if cut else None

        if cut and cut[0] > 0:
            try:
                container.seek(int(cut[0] * 1e6), backward=True, any_frame=False)
            except Exception:  # unseekable: decode from the start
                pass
        limit = cut[1] if cut else None

        def video_frame(frame):
            nonlocal origin
            t = frame.time
            if t is None:
                t = (picker.cur[1] + (native_dt or picker.dt)) if picker.cur else 0.0
            if origin is None:
                origin = t
            picker.add(frame, t - origin)

        def audio_frames(frames):
            for out in frames:
                pcm_chunks.append(out.to_ndarray().reshape(-1).astype(np.int16, copy=False))

        streams = [s for s in (vs, as_) if s is not None]
        video_done = vs is None
        audio_done = as_ is None
        try:
            for packet in container.demux(*streams):
                if video_done and audio_done:
                    break
                if packet.stream is vs and video_done or packet.stream is as_ and audio_done:
                    continue
                for frame in packet.decode():
                    if packet.stream is vs:
                        if limit is not None and frame.time is not None and frame.time >= limit:
                            video_done = True
                            break
                        video_frame(frame)
                    else:
                        if limit is not None and frame.time is not None and frame.time >= limit:
                            audio_done = True
                            break
                        if frame.time is not None and cut and frame.time + frame.samples / frame.sample_rate < cut[0] - 1:
                            continue
                        if audio_t0 is None:  # the resampled stream starts where its first input does
                            audio_t0 = frame.time if frame.time is not None else 0.0
                        audio_frames(resampler.resample(frame))
        except Exception as e:  # a decode error part way: keep what was decoded
            warnings.append(f"partial_decode: {type(e).__name__}: {e}")
        if resampler is not None:
            try:
                audio_frames(resampler.resample(None))
            except Exception:
                pass

    if origin is None:
        origin = audio_t0 if audio_t0 is not None else 0.0
    seg_len = (cut[1] - cut[0]) if cut else None
    picker.finish(seg_len, native_dt)
    if vs is not None and not picker.jpegs and not pcm_chunks:
        raise MediaError("corrupt", "no frame could be decoded" + (f" ({warnings[0]})" if warnings else ""))

    pcm = np.concatenate(pcm_chunks) if pcm_chunks else np.zeros(0, np.int16)
    if audio_t0 is not None:  # place the audio on the record's clock
        offset = int(round((audio_t0 - origin) * settings.sample_rate))
        pcm = pcm[-offset:] if offset < 0 else np.concatenate([np.zeros(offset, np.int16), pcm])
    if seg_len is not None:
        pcm = pcm[:int(round(seg_len * settings.sample_rate))]
    w, h = picker.size or (0, 0)
    clip_s = max(len(picker.jpegs) / settings.fps, len(pcm) / settings.sample_rate)
    return {"frames_jpeg": picker.jpegs, "pcm": pcm, "width": w, "height": h, "start": float(origin),
            "end": float(origin + clip_s), "duration": float(duration or clip_s), "warnings": warnings,
            "has_video": vs is not None, "has_audio": as_ is not None}


def convert_item(item: formats.Item, settings: Settings, needs_video: bool, needs_audio: bool,
                 multi_label: bool = False) -> tuple[bytes | None, str | None, list[str]]:
    """One input -> (record bytes, None, warnings) or (None, skip reason, [detail])."""
    try:
        if not os.path.isfile(item.path):
            raise MediaError("file_not_found", item.path)
        media = decode_media(item.path, settings, item.segment)
        if needs_video and not media["has_video"]:
            raise MediaError("no_video")
        if needs_audio and not media["has_audio"]:
            raise MediaError("no_audio")
        v_s = len(media["frames_jpeg"]) / settings.fps
        a_s = len(media["pcm"]) / settings.sample_rate
        if (needs_video and v_s < settings.min_seconds) or (needs_audio and a_s < settings.min_seconds) \
                or max(v_s, a_s) < settings.min_seconds:
            raise MediaError("too_short", f"video {v_s:.2f} s, audio {a_s:.2f} s")
        labels = list(item.labels)
        data = records.encode(
            frames_jpeg=media["frames_jpeg"], pcm=media["pcm"], fps=settings.fps,
            sample_rate=settings.sample_rate, height=media["height"], width=media["width"], id=item.id,
            label=labels[0] if labels else -1, labels=labels, split=item.split, start=media["start"],
            end=media["end"], duration=media["duration"], meta=item.meta)
        return data, None, media["warnings"]
    except MediaError as e:
        return None, e.reason, [e.detail] if e.detail else []
    except Exception as e:  # anything else a broken file can raise: counted, never a crash
        return None, "corrupt", [f"{type(e).__name__}: {e}"]


# ---------------------------------------------------------------------------------------------
# Shards, journal, manifest.
# ---------------------------------------------------------------------------------------------

def shard_name(split: str, index: int, count: int) -> str:
    return f"{split}{SHARD_SUFFIX}-{index:05d}-of-{count:05d}"


@dataclasses.dataclass
class ShardPlan:
    split: str
    index: int
    count: int
    items: list[formats.Item]

    @property
    def name(self) -> str:
        return shard_name(self.split, self.index, self.count)


def plan_shards(listing: formats.Listing, records_per_shard: int) -> list[ShardPlan]:
    """Items of each split, in a fixed random order (seeded by the split name, so a rerun plans the
    same shards), cut into shards of `records_per_shard` inputs. The order mixes the classes, so a
    slice such as "train[:5000]" is a random sample and every shard holds every class."""
    plans = []
    for split in listing.splits():
        items = [it for it in listing.items if it.split == split]
        order = np.random.default_rng(zlib.crc32(split.encode())).permutation(len(items))
        items = [items[i] for i in order]
        count = max(1, math.ceil(len(items) / records_per_shard))
        for i in range(count):
            plans.append(ShardPlan(split, i, count, items[i * records_per_shard:(i + 1) * records_per_shard]))
    return plans


def read_journal(out: str) -> dict[str, dict]:
    """Finished shards by name (a torn last line from a crash is ignored)."""
    done = {}
    path = os.path.join(out, JOURNAL)
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if os.path.exists(os.path.join(out, entry["shard"])):
                    done[entry["shard"]] = entry
    return done


def _append_journal(out: str, entry: dict) -> None:
    with open(os.path.join(out, JOURNAL), "a", encoding="utf-8") as f:
        f.write(json.dumps(entry) + "\n")
        f.flush()
        os.fsync(f.fileno())


class _ShardWriter:
    """Writes one shard to `<name>.tmp`, renamed to `<name>` by `commit` only."""

    def __init__(self, out: str, plan: ShardPlan):
        from array_record.python import array_record_module as arm
        self.final = os.path.join(out, plan.name)
        self.tmp = self.final + ".tmp"
        if os.path.exists(self.tmp):
            os.remove(self.tmp)
        # group_size:1: every record is its own chunk, so a random read touches one record only;
        # uncompressed: JPEG frames do not compress, and decompressing a 1 MB record (the default
        # brotli) would cost more than decoding the frames the crop needs.
        self.writer = arm.ArrayRecordWriter(self.tmp, "group_size:1,uncompressed")
        self.plan, self.records, self.skipped, self.warnings = plan, 0, [], []
        self.per_class: dict[int, int] = {}

    def add(self, item: formats.Item, data: bytes | None, reason: str | None, details: list[str]):
        if data is None:
            self.skipped.append({"id": item.id, "path": item.path, "reason": reason,
                                 "detail": "; ".join(details)[:300]})
            return
        self.writer.write(data)
        self.records += 1
        for label in item.labels:
            self.per_class[label] = self.per_class.get(label, 0) + 1
        for w in details:
            self.warnings.append({"id": item.id, "warning": w[:300]})

    def commit(self, out: str) -> dict:
        self.writer.close()
        os.replace(self.tmp, self.final)
        entry = {"shard": self.plan.name, "split": self.plan.split, "records": self.records,
                 "inputs": [it.id for it in self.plan.items], "skipped": self.skipped,
                 "warnings": self.warnings, "per_class": {str(k): v for k, v in self.per_class.items()}}
        _append_journal(out, entry)
        return entry

    def abort(self):
        try:
            self.writer.close()
        finally:
            if os.path.exists(self.tmp):
                os.remove(self.tmp)


def write_manifest(out: str, listing: formats.Listing, settings: Settings, plans: list[ShardPlan],
                   done: dict[str, dict]) -> dict:
    splits: dict[str, dict] = {}
    skipped = [{"id": i, "path": "", "reason": r, "detail": ""} for i, r in listing.missing]
    warnings = []
    for plan in plans:
        entry = done.get(plan.name)
        s = splits.setdefault(plan.split, {"records": 0, "inputs": 0, "shards": [], "per_class": {},
                                           "complete": True})
        s["inputs"] += len(plan.items)
        if entry is None:
            s["complete"] = False
            continue
        s["shards"].append(plan.name)
        s["records"] += entry["records"]
        for k, v in entry["per_class"].items():
            name = listing.class_names[int(k)] if 0 <= int(k) < len(listing.class_names) else k
            s["per_class"][name] = s["per_class"].get(name, 0) + v
        skipped += entry["skipped"]
        warnings += entry.get("warnings", [])
    counts: dict[str, int] = {}
    for s in skipped:
        counts[s["reason"]] = counts.get(s["reason"], 0) + 1
    manifest = {
        "format": listing.format, "version": records.VERSION, "settings": dataclasses.asdict(settings),
        "num_classes": listing.num_classes, "class_names": listing.class_names,
        "multi_label": listing.multi_label, "splits": splits, "aliases": listing.aliases,
        "records": sum(s["records"] for s in splits.values()),
        "skipped_counts": counts, "skipped": skipped,
        "warning_counts": {"partial_decode": len(warnings)}, "warnings": warnings,
        "notes": listing.notes, "complete": all(s["complete"] for s in splits.values()),
    }
    tmp = os.path.join(out, MANIFEST + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=1)
    os.replace(tmp, os.path.join(out, MANIFEST))
    return manifest


def _check_settings(out: str, fmt: str, settings: Settings) -> None:
    path = os.path.join(out, SETTINGS)
    want = {"format": fmt, **dataclasses.asdict(settings)}
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            have = json.load(f)
        if have != want:
            diff = {k: (have.get(k), v) for k, v in want.items() if have.get(k) != v}
            raise ValueError(f"--out {out} holds a conversion with other settings {diff} (was, now): "
                             "rerun with the same settings to resume, or use a new --out")
    else:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(want, f, indent=1)


# ---------------------------------------------------------------------------------------------
# The run.
# ---------------------------------------------------------------------------------------------

_WORKER: dict[str, Any] = {}


def _init_worker(settings: Settings, needs_video: bool, needs_audio: bool, multi_label: bool):
    _WORKER.update(settings=settings, needs_video=needs_video, needs_audio=needs_audio, multi_label=multi_label)
    try:  # one decode thread per worker process: the pool already uses every core
        os.environ.setdefault("OMP_NUM_THREADS", "1")
    except Exception:
        pass


def _work(item: formats.Item):
    return convert_item(item, _WORKER["settings"], _WORKER["needs_video"], _WORKER["needs_audio"],
                        _WORKER["multi_label"])


def convert(fmt: str, src: str, out: str, meta: str | None = None, classes: str | None = None,
            settings: Settings = Settings(), workers: int | None = None, progress: bool = True,
            limit: int | None = None, max_shards: int | None = None) -> dict:
    """Convert a dataset; returns the manifest. Resumes a previous run in `out`.

    limit: convert only the first `limit` inputs of the listing (a quick look);
    max_shards: stop after writing this many new shards (a deliberate interruption; tests).
    """
    listing = formats.list_items(fmt, src, meta, classes)
    if limit:
        listing.items = listing.items[:limit]
    os.makedirs(out, exist_ok=True)
    _check_settings(out, fmt, settings)
    plans = plan_shards(listing, settings.records_per_shard)
    done = read_journal(out)
    todo = [p for p in plans if p.name not in done]
    for name in os.listdir(out):  # leftovers of an interrupted run
        if name.endswith(".tmp"):
            os.remove(os.path.join(out, name))
    workers = max(1, workers or os.cpu_count() or 1)
    if max_shards is not None:
        todo = todo[:max_shards]
    items = [it for p in todo for it in p.items]
    from tqdm import tqdm
    bar = tqdm(total=sum(len(p.items) for p in plans), initial=sum(len(p.items) for p in plans) - len(items),
               desc=f"convert {fmt}", unit="file", disable=not progress, dynamic_ncols=True, file=sys.stderr)
    init = (settings, listing.needs_video, listing.needs_audio, listing.multi_label)
    pool = None
    if workers > 1 and len(items) > 1:
        pool = mp.get_context("spawn").Pool(workers, initializer=_init_worker, initargs=init)
        results: Iterator = pool.imap(_work, items, chunksize=1)
    else:
        _init_worker(*init)
        results = map(_work, items)
    writer = None
    t0 = time.time()
    try:
        for plan in todo:
            writer = _ShardWriter(out, plan)
            for item in plan.items:
                data, reason, details = next(results)
                writer.add(item, data, reason, details)
                bar.update(1)
            done[plan.name] = writer.commit(out)
            writer = None
        if pool is not None:
            pool.close()
            pool.join()
    except BaseException:
        if writer is not None:
            writer.abort()
        if pool is not None:
            pool.terminate()
            pool.join()
        raise
    finally:
        bar.close()
    manifest = write_manifest(out, listing, settings, plans, done)
    manifest["seconds"] = time.time() - t0
    return manifest


def add_arguments(parser) -> None:
    """The `avjax convert` flags."""
    parser.add_argument("--format", required=True, choices=formats.FORMATS)
    parser.add_argument("--src", required=True, help="the folder holding the dataset's media files")
    parser.add_argument("--meta", default=None, help="the dataset's metadata file or folder (see the format)")
    parser.add_argument("--out", required=True, help="where the shards and manifest.json go")
    parser.add_argument("--classes", default=None, help="a class list to use instead of the format's")
    parser.add_argument("--fps", type=float, default=Settings.fps)
    parser.add_argument("--short-side", type=int, default=Settings.short_side,
                        help="resize frames so the short side is this (never up; 0: native size)")
    parser.add_argument("--sample-rate", type=int, default=Settings.sample_rate)
    parser.add_argument("--jpeg-quality", type=int, default=Settings.jpeg_quality)
    parser.add_argument("--min-seconds", type=float, default=Settings.min_seconds)
    parser.add_argument("--records-per-shard", type=int, default=Settings.records_per_shard)
    parser.add_argument("--workers", type=int, default=None, help="worker processes (default: all cores)")
    parser.add_argument("--limit", type=int, default=None, help="convert only the first N inputs")


def run_from_args(args) -> dict:
    settings = Settings(fps=args.fps, short_side=args.short_side, sample_rate=args.sample_rate,
                        jpeg_quality=args.jpeg_quality, min_seconds=args.min_seconds,
                        records_per_shard=args.records_per_shard)
    manifest = convert(args.format, args.src, args.out, args.meta, args.classes, settings, args.workers,
                       limit=args.limit)
    return {"out": args.out, "records": manifest["records"],
            "splits": {k: v["records"] for k, v in manifest["splits"].items()},
            "skipped": manifest["skipped_counts"], "seconds": round(manifest["seconds"], 1)}


# ---------------------------------------------------------------------------------------------
# Writing media (test and benchmark inputs).
# ---------------------------------------------------------------------------------------------

def write_media(path: str, video: np.ndarray | None = None, fps: float = 16.0,
                audio: np.ndarray | None = None, sample_rate: int = 16000, *,
                frame_times: np.ndarray | None = None, audio_rate: int | None = None,
                video_codec: str = "libx264", audio_codec: str | None = None,
                keyframe_seconds: float | None = None, crf: int = 18) -> str:
    """Write uint8 [T, H, W, 3] frames and / or float32 [S] audio in [-1, 1] with PyAV.

    fps: the frame rate (frame k at k / fps) unless `frame_times` [T] (seconds, increasing) gives
    variable frame rate timestamps. audio_rate: the stream's sample rate (the audio is resampled to
    it; default `sample_rate`). The container follows the extension: .mp4 (H.264 + AAC),
    .wav (PCM), .mkv, .avi. keyframe_seconds: GOP length (default: the encoder's).
    """
    import fractions

    import av

    ext = os.path.splitext(path)[1].lower()
    with av.open(path, "w") as container:
        vs = as_ = None
        if video is not None:
            rate = fractions.Fraction(fps).limit_denominator(1001)
            vs = container.add_stream(video_codec, rate=rate)
            vs.height, vs.width = int(video.shape[1]) // 2 * 2, int(video.shape[2]) // 2 * 2
            vs.pix_fmt = "yuv420p"
            opts = {"crf": str(crf), "preset": "veryfast"} if video_codec == "libx264" else {}
            if keyframe_seconds:
                opts["g"] = str(max(1, int(round(keyframe_seconds * fps))))
                vs.codec_context.gop_size = max(1, int(round(keyframe_seconds * fps)))
            vs.options = opts
            if frame_times is not None:
                vs.codec_context.time_base = fractions.Fraction(1, 90000)
        if audio is not None:
            out_rate = int(audio_rate or sample_rate)
            codec = audio_codec or ("pcm_s16le" if ext == ".wav" else "aac")
            as_ = container.add_stream(codec, rate=out_rate)
            as_.layout = "mono"
        if vs is not None:
            for k, img in enumerate(video):
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img[:vs.height, :vs.width]), format="rgb24")
                if frame_times is not None:
                    frame.pts = int(round(float(frame_times[k]) * 90000))
                    frame.time_base = fractions.Fraction(1, 90000)
                else:
                    frame.pts = k
                    frame.time_base = fractions.Fraction(1) / vs.codec_context.framerate
                for packet in vs.encode(frame):
                    container.mux(packet)
            for packet in vs.encode():
                container.mux(packet)
        if as_ is not None:
            x = np.asarray(audio, np.float32)
            if as_.rate != sample_rate:
                from scipy.signal import resample_poly
                g = math.gcd(int(as_.rate), int(sample_rate))
                x = resample_poly(x, int(as_.rate) // g, int(sample_rate) // g).astype(np.float32)
            fmt = "s16" if as_.codec_context.name.startswith("pcm_s16") else "fltp"
            block = 4096
            for i in range(0, len(x), block):
                chunk = x[i:i + block][None]
                if fmt == "s16":
                    chunk = records.float_to_pcm(chunk)
                frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format=fmt, layout="mono")
                frame.sample_rate = as_.rate
                frame.pts = i
                frame.time_base = fractions.Fraction(1, as_.rate)
                for packet in as_.encode(frame):
                    container.mux(packet)
            for packet in as_.encode():
                container.mux(packet)
    return path
