"""Host input pipeline throughput: shards (avjax) vs decoding the mp4 with PyAV per sample (official).

Both sides produce the same CrissCross training sample from the same videos: the overlapped
relaxed crop (12 frames at 16 fps = 0.75 s of video inside 3 s of 16 kHz audio), two views of
8 frames and two of 2 s, random resized crop to 112 + flip on uint8.

  shards: `avjax convert` the videos once (JPEG frames, short side 128, int16 PCM), then the full
          Grain pipeline (`pipeline.train_dataset`: shuffle, random_map, batch, mp_prefetch) with
          ONE worker process: clips/s per worker process. Also the same sample function in a
          plain loop (no Grain), and the pipeline with --workers processes.
  pyav:   the official loader's approach (pritamqu/CrissCross, AVID's av_wrappers): per sample,
          open the mp4, seek + decode the 12 video frames (nearest-frame pick on the 16-fps grid),
          seek + decode 3 s of audio and resample it to 16 kHz mono with av.AudioResampler, then
          the same crop + flip. One process: clips/s per worker process.

    python benchmarks/data_pipeline.py [--videos 8 --seconds 10 --source-size 256 --fps 25
        --keyframe-seconds 1 --samples 200 --workers 2 --train-step-json FILE --json FILE]

--train-step-json takes the JSON `benchmarks/train_step.py --json` writes: the report then says
whether one host with --workers worker processes keeps up with that train step (full variant).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from avjax import configs  # noqa: E402
from avjax.data import convert, pipeline, synthetic, temporal  # noqa: E402

VIEW_FRAMES, FPS, CROP, AUDIO_S, SR = 8, 16.0, 112, 2.0, 16000


def make_videos(folder: str, n: int, seconds: float, size: int, fps: float, keyframe_s: float) -> list[str]:
    world = synthetic.SyntheticWorld(synthetic.WorldConfig(num_clips=n, duration=seconds, fps=fps, size=size))
    paths = []
    for i in range(n):
        cls = os.path.join(folder, f"class{i % 2}")
        os.makedirs(cls, exist_ok=True)
        frames = world.video(i, 0.0, int(seconds * fps), fps)
        audio = world.audio(i, 0.0, int(seconds * SR))
        paths.append(convert.write_media(os.path.join(cls, f"v{i:03d}.mp4"), frames, fps, audio, SR,
                                         audio_rate=44100, keyframe_seconds=keyframe_s, crf=23))
    return paths


# ---------------------------------------------------------------------------------------------
# The official approach: PyAV for every sample.
# ---------------------------------------------------------------------------------------------

def pyav_sample(path: str, rng: np.random.Generator, scheme: str = "overlapped") -> dict:
    import av
    spec_v, spec_a = VIEW_FRAMES / FPS, AUDIO_S
    D_v, D_a = temporal.effective_durations(scheme, spec_v, spec_a)
    with av.open(path) as container:
        vs, as_ = container.streams.video[0], container.streams.audio[0]
        v_dur = float(vs.duration * vs.time_base)
        a_dur = float(as_.duration * as_.time_base)
        a_ss, v_ss = temporal.sample_snippet(rng, D_v, D_a, v_dur, a_dur)
        # Video: seek, decode up to the window's end, pick frame int((t - start) * native fps).
        native = float(vs.average_rate)
        container.seek(int(v_ss / vs.time_base), stream=vs, backward=True)
        decoded = {}
        for frame in container.decode(vs):
            t = frame.time
            if t >= v_ss - 1 / native:
                decoded[int(round(t * native))] = frame
            if t >= v_ss + D_v:
                break
        keys = sorted(decoded)
        n = int(round(D_v * FPS))
        want = [int((v_ss + k / FPS) * native) for k in range(n)]
        frames = [np.asarray(decoded[min(keys, key=lambda j: abs(j - w))].to_image()) for w in want]
        # Audio: seek, decode 3 s, resample to 16 kHz mono s16 (PyAV >= 9: resample returns a list).
        container.seek(int(a_ss / as_.time_base), stream=as_, backward=True)
        resampler = av.AudioResampler(format="s16", layout="mono", rate=SR)
        chunks, first = [], None
        for frame in container.decode(as_):
            if first is None:
                first = frame.time
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().reshape(-1))
            if frame.time >= a_ss + D_a:
                break
        wav = np.concatenate(chunks).astype(np.float32) / 32767
        off = max(int(round((a_ss - first) * SR)), 0)
        wav = wav[off:off + int(D_a * SR)]
        wav = np.pad(wav, (0, int(D_a * SR) - len(wav)))
    video = np.stack(frames)
    nv, na = VIEW_FRAMES, int(AUDIO_S * SR)
    return {"video1": pipeline.random_crop_flip(video[:nv], rng, CROP, (0.08, 1.0)),
            "video2": pipeline.random_crop_flip(video[-nv:], rng, CROP, (0.08, 1.0)),
            "audio1": wav[:na], "audio2": wav[-na:]}


def bench_pyav(paths: list[str], samples: int) -> float:
    rng = np.random.default_rng(0)
    pyav_sample(paths[0], rng)  # warm up
    t = time.perf_counter()
    for i in range(samples):
        pyav_sample(paths[i % len(paths)], rng)
    return samples / (time.perf_counter() - t)


# ---------------------------------------------------------------------------------------------
# The shard pipeline.
# ---------------------------------------------------------------------------------------------

# The shard set is read REPEAT times over ("train+train+..."), so the source holds hundreds of clips
# as a real dataset does: Grain's index shuffle is slow on tiny datasets (~6 ms an index at 4 clips,
# 0.04 ms at 1000), which would otherwise dominate.
REPEAT = 64


def shard_config(path: str, workers: int):
    c = configs.crisscross_base()
    c.data.source = "array_record"
    c.data.path = path
    c.data.num_classes = 2
    c.data.splits = {"train": "+".join(["train"] * REPEAT)}
    c.data.num_workers = workers
    c.data.num_threads = 1
    c.data.prefetch = 2
    return c


def bench_shards_pipeline(path: str, workers: int, batches: int, batch_size: int) -> float:
    it = iter(pipeline.train_dataset(shard_config(path, workers), 0, 1, batch_size))
    for _ in range(max(2, workers)):  # start the workers, fill the buffers
        next(it)
    t = time.perf_counter()
    for _ in range(batches):
        next(it)
    rate = batches * batch_size / (time.perf_counter() - t)
    del it
    return rate


def bench_shards_loop(path: str, samples: int) -> float:
    from avjax.data import sources
    config = shard_config(path, 0)
    source = sources.get_source(config.data, "train")
    fn = pipeline.TwoViewSample(pipeline.ClipSpec.from_config(config), "overlapped", source)
    rng = np.random.default_rng(0)
    fn(source[0], rng)
    t = time.perf_counter()
    for i in range(samples):
        fn(source[i % len(source)], rng)
    return samples / (time.perf_counter() - t)


def train_step_rate(path: str | None) -> dict | None:
    if not path:
        return None
    with open(path) as f:
        rows = json.load(f)["results"]
    full = [r for r in rows if r["variant"] == "full"] or rows
    return full[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--source-size", type=int, default=256, help="frame side of the source mp4s")
    parser.add_argument("--fps", type=float, default=25.0, help="frame rate of the source mp4s")
    parser.add_argument("--keyframe-seconds", type=float, default=1.0)
    parser.add_argument("--samples", type=int, default=120, help="samples timed on each side")
    parser.add_argument("--batch", type=int, default=8, help="per-host batch of the Grain pipeline")
    parser.add_argument("--workers", type=int, default=os.cpu_count(), help="worker processes of one host")
    parser.add_argument("--train-step-json", default=None, help="the JSON of benchmarks/train_step.py")
    parser.add_argument("--json", default=None, help="write the results here")
    parser.add_argument("--workdir", default=None, help="keep the videos and shards here")
    args = parser.parse_args()

    work = args.workdir or tempfile.mkdtemp(prefix="avjax_bench_")
    src, out = os.path.join(work, "videos"), os.path.join(work, "shards")
    t = time.perf_counter()
    paths = make_videos(src, args.videos, args.seconds, args.source_size, args.fps, args.keyframe_seconds)
    print(f"wrote {len(paths)} mp4s ({args.seconds:g} s, {args.source_size}px, {args.fps:g} fps, keyframe "
          f"every {args.keyframe_seconds:g} s) in {time.perf_counter() - t:.1f} s")
    t = time.perf_counter()
    manifest = convert.convert("folder", src, out, settings=convert.Settings(records_per_shard=4),
                               workers=args.workers, progress=False)
    convert_s = time.perf_counter() - t
    mp4_mb = sum(os.path.getsize(p) for p in paths) / 1e6
    shard_mb = sum(os.path.getsize(os.path.join(out, f)) for f in os.listdir(out) if ".array_record" in f) / 1e6
    print(f"converted {manifest['records']} videos in {convert_s:.1f} s with {args.workers} workers "
          f"({mp4_mb:.1f} MB mp4 -> {shard_mb:.1f} MB shards)")

    batches = max(4, args.samples // args.batch)
    pyav = bench_pyav(paths, args.samples)
    loop = bench_shards_loop(out, args.samples)
    one = bench_shards_pipeline(out, 1, batches, args.batch)
    host = bench_shards_pipeline(out, args.workers, batches, args.batch) if args.workers > 1 else one
    ratio = one / pyav

    print(f"\n{'clips/s':<48}{'per worker':>12}")
    print(f"{'pyav: decode the mp4 per sample (official)':<48}{pyav:>12.1f}")
    print(f"{'shards: sample function in a loop':<48}{loop:>12.1f}")
    print(f"{'shards: full Grain pipeline, 1 worker process':<48}{one:>12.1f}")
    print(f"{'ratio shards / pyav (per worker)':<48}{ratio:>11.1f}x")
    print(f"{f'shards: full pipeline, {args.workers} worker processes (host)':<48}{host:>12.1f}  total")

    result = {"shards_clips_per_s_per_worker": one, "pyav_clips_per_s_per_worker": pyav, "ratio": ratio,
              "shards_loop_clips_per_s": loop, "host_workers": args.workers,
              "host_clips_per_s": host, "convert_s": convert_s, "mp4_mb": mp4_mb, "shard_mb": shard_mb,
              "videos": {"count": args.videos, "seconds": args.seconds, "size": args.source_size,
                         "fps": args.fps, "keyframe_seconds": args.keyframe_seconds},
              "cpu_count": os.cpu_count()}
    step = train_step_rate(args.train_step_json)
    if step is not None:
        need = step["examples_per_s"]
        keeps_up = args.workers * one >= need
        result.update(train_step_examples_per_s=need, train_step_platform=step.get("platform"),
                      workers_needed=math.ceil(need / one), keeps_up=keeps_up)
        print(f"\ntrain step ({step['variant']}, batch {step['batch']}, {step.get('platform')}): "
              f"{need:.1f} clips/s; one host with {args.workers} workers gives {args.workers * one:.1f} "
              f"clips/s (measured together: {host:.1f}): {'keeps up' if keeps_up else 'does NOT keep up'}; "
              f"workers needed: {math.ceil(need / one)}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return result


if __name__ == "__main__":
    main()
