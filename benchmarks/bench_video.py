"""Video benchmarks: flicker with and without --temporal, memory flatness, pipeline throughput.

    python benchmarks/bench_video.py flicker      # -> benchmarks/results/video-flicker.md
    python benchmarks/bench_video.py memory       # -> benchmarks/results/video-memory.md
    python benchmarks/bench_video.py throughput   # -> benchmarks/results/video-throughput-shinkai_lite-1280x720.md
    python benchmarks/bench_video.py throughput --model standin --size 320x180   # the earlier stand-in figure

Clips are generated here with PyAV (animegan.video.samples); nothing is downloaded.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch

from animegan.inference.stylizer import Stylizer
from animegan.nn import build_generator
from animegan.video import VideoOptions, stylize_video
from animegan.video.samples import read_frames, scene_frames, write_clip
from animegan.video.temporal import flicker_ratio

RESULTS = Path(__file__).resolve().parent / "results"
TEACHER = Path(__file__).resolve().parents[2] / "shared" / "data" / "teachers" / "cartoongan" / "hayao"


def machine() -> str:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__} "
            f"with {torch.get_num_threads()} threads, load average {load:.1f} at the start (shared machine)")


# ---- flicker -------------------------------------------------------------------------------

class CachedFrames:
    """Stylize each frame once; later runs of the pipeline reuse the results (same frames, same order)."""

    def __init__(self, stylizer: Stylizer):
        self.stylizer, self.cache, self.calls = stylizer, [], 0

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        start = self.calls
        self.calls += len(frames)
        if start >= len(self.cache):
            self.cache.extend(self.stylizer.stylize_frames(frames))
        return np.stack(self.cache[start:start + len(frames)])

    def rewind(self) -> None:
        self.calls = 0


def bench_flicker(args: argparse.Namespace) -> str:
    width, height, count = 160, 120, args.frames or 48
    if TEACHER.is_dir():
        from animegan.hub.loading import load_generator_file

        module, _ = load_generator_file(TEACHER, arch="cartoongan")
        model_name = "CartoonGAN Hayao (the released teacher weights from ../shared/data)"
    else:
        torch.manual_seed(0)
        module, model_name = build_generator("animeganv2"), "AnimeGANv2, random weights (teacher not present)"
    stylizer = CachedFrames(Stylizer(module, device="cpu", precision="fp32"))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        clip = write_clip(tmp / "scene.mp4", width=width, height=height, seconds=count / 25, audio=None,
                          frames=scene_frames(width, height, count, noise=2.0), codec="libx264")
        inputs = read_frames(clip)
        moved = np.abs(np.diff(inputs.astype(np.float32), axis=0)).max(axis=-1) > 40
        still = ~moved
        runs = [("off", VideoOptions(batch_size=4))] + [
            (f"--temporal-strength {s}", VideoOptions(batch_size=4, temporal=True, temporal_strength=s))
            for s in (0.5, 0.7, 0.85)]
        base = None
        for label, options in runs:
            stylizer.rewind()
            t0 = time.perf_counter()
            stylize_video(clip, tmp / "out.mp4", stylizer, options)
            seconds = time.perf_counter() - t0
            out = read_frames(tmp / "out.mp4")
            d_out = np.abs(np.diff(out.astype(np.float32), axis=0)).mean(axis=-1)
            d_in = np.abs(np.diff(inputs.astype(np.float32), axis=0)).mean(axis=-1)
            still_ratio = d_out[still].mean() / d_in[still].mean()
            moving_ratio = d_out[moved].mean() / d_in[moved].mean()
            base = out if base is None else base
            lag = np.abs(out[1:].astype(np.float32) - base[1:].astype(np.float32)).max(axis=-1)[moved].mean()
            rows.append((label, flicker_ratio(inputs, out), still_ratio, moving_ratio, lag, seconds))
    lines = [
        "# Video flicker: mean |frame-to-frame difference| of the output relative to the input's",
        "",
        (f"Clip: generated, {width}×{height}, {count} frames at 25 fps: a static textured background, a "
        "16:9-ish red square moving left to right, Gaussian noise σ=2 levels per frame (a locked-off "
        "camera), encoded with x264 crf 18; stylized through `stylize_video` (x264 crf 18 output) and decoded."),
        f"Model: {model_name}, fp32 on CPU; every run uses the same stylized frames (computed once).",
        f"Machine: {machine()}.",
        "",
        ("ratio = mean|out[t] − out[t−1]| / mean|in[t] − in[t−1]| (1.0 = the output changes as much as the "
        "footage). still / moving = the same ratio over pixels where the input changed by ≤ / > 40 levels. "
        "ghost = mean max-channel difference from the unfiltered output over the moving pixels (how much "
        "the filter holds back real motion; 0 is ideal)."),
        "",
        "| temporal | ratio (all) | still areas | moving areas | ghost (levels) | run s |",
        "|---|---|---|---|---|---|",
    ]
    lines += [f"| {r[0]} | {r[1]:.2f} | {r[2]:.2f} | {r[3]:.2f} | {r[4]:.1f} | {r[5]:.1f} |" for r in rows]
    reduction = 1 - rows[2][1] / rows[0][1]
    lines += ["", (f"With the default strength 0.7 the overall ratio drops by {reduction:.0%} "
              f"({rows[0][1]:.2f} → {rows[2][1]:.2f}); still areas {rows[0][2]:.2f} → {rows[2][2]:.2f}."), ""]
    return "\n".join(lines)


# ---- memory --------------------------------------------------------------------------------

class RssSampler:
    """Samples this process's resident memory every ``every`` seconds in a thread."""

    def __init__(self, every: float = 0.25):
        self.every, self.samples, self._stop = every, [], threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        t0 = time.perf_counter()
        while not self._stop.is_set():
            self.samples.append((time.perf_counter() - t0, rss_mb()))
            self._stop.wait(self.every)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


class TinyColourModel:
    """A one-layer 1×1 convolution (a colour mixer) on uint8 frames: a model cheap enough for 1000
    frames of 720p on a shared 2-core machine; the pipeline around it is the real one."""

    def __init__(self) -> None:
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(3, 3, 1)

    @torch.no_grad()
    def __call__(self, frames: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(frames).permute(0, 3, 1, 2).float().div_(127.5).sub_(1)
        y = torch.tanh(self.conv(x)).add_(1).mul_(127.5).clamp_(0, 255)
        return y.round().to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def bench_memory(args: argparse.Namespace) -> str:
    count, width, height = args.frames or 1000, 1280, 720
    stylizer = TinyColourModel()
    progress_marks: list[tuple[float, int]] = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        clip = write_clip(tmp / "long.mp4", width=width, height=height, seconds=count / 25, audio="aac")
        make_s = time.perf_counter() - t0
        base = rss_mb()
        sampler = RssSampler()
        sampler.start()
        start = time.perf_counter()
        try:
            result = stylize_video(clip, tmp / "out.mp4", stylizer, VideoOptions(preset="ultrafast", batch_size=4),
                                   progress=lambda done, total: progress_marks.append((time.perf_counter() - start,
                                                                                       done)))
        finally:
            sampler.stop()
        out_frames = result.frames
    samples = sampler.samples
    peak = max(mb for _, mb in samples)

    def rss_at(fraction: float) -> float:
        """RSS when the conversion had done ``fraction`` of the frames."""
        when = next(t for t, done in progress_marks if done >= fraction * count)
        return max(mb for t, mb in samples if t <= when + 0.3)

    marks = [(f, rss_at(f)) for f in (0.1, 0.25, 0.5, 0.75, 1.0)]
    growth = marks[-1][1] - marks[1][1]
    lines = [
        "# Video memory: RSS over a long 720p conversion",
        "",
        (f"Clip: generated, {width}×{height}, {count} frames at 25 fps with an AAC tone (made in {make_s:.0f} s). "
        "Output: x264 `--preset ultrafast`, crf 18, batch 4, segments of 250 frames, audio copied."),
        ("Model: a stand-in, one random 1×1 convolution + tanh in torch (a tiny CartoonGAN ran at ~3 s per 720p "
         "frame on this loaded machine, too slow for 1000 frames); memory flatness is about the pipeline, and "
         "a full model adds its own constant activation memory per batch."),
        f"Machine: {machine()}.",
        "",
        f"- frames out: {out_frames} (in: {count}); {result.fps:.1f} frames/s over {result.seconds:.0f} s",
        f"- RSS before the conversion: {base:.0f} MB; peak during it: {peak:.0f} MB",
        "- RSS (MB, peak so far) when the conversion had done: "
        + ", ".join(f"{int(f * 100)}% → {mb:.0f}" for f, mb in marks),
        (f"- growth from 25% to 100% of the frames: {growth:+.0f} MB "
        f"({'flat' if abs(growth) < 50 else 'NOT flat'}: memory does not grow with the video's length)"),
        "",
        "RSS samples every 0.25 s (seconds: MB), thinned to 40:",
        "",
        "    " + "  ".join(f"{t:.0f}:{mb:.0f}" for t, mb in samples[:: max(1, len(samples) // 40)]),
        "",
    ]
    return "\n".join(lines)


# ---- throughput ----------------------------------------------------------------------------

def bench_throughput(args: argparse.Namespace) -> str:
    """The video pipeline at default settings against the model's own speed on the same frames."""
    width, height = (int(v) for v in args.size.lower().split("x"))
    count = args.frames or 32
    options = VideoOptions()  # default settings: what `animegan video IN -o OUT` runs
    batch = options.batch_size
    torch.manual_seed(0)
    if args.model == "standin":  # the AnimeGANv2 architecture, random weights: the earlier figure's model
        stylizer, label = Stylizer(build_generator("animeganv2"), device="cpu", precision=args.precision), \
            "AnimeGANv2 (random weights)"
    else:
        stylizer, label = Stylizer(args.model, precision=args.precision), f"`{args.model}`"
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        clip = write_clip(tmp / "clip.mp4", width=width, height=height, seconds=count / 25, audio="aac")
        frames = read_frames(clip)
        stylizer.stylize_frames(frames[:batch])  # warm-up
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            for k in range(0, len(frames), batch):
                stylizer.stylize_frames(frames[k:k + batch])
            model_fps = len(frames) / (time.perf_counter() - t0)
            t0 = time.perf_counter()
            result = stylize_video(clip, tmp / "out.mp4", stylizer, options)
            video_fps = result.frames / (time.perf_counter() - t0)  # includes probing, joining and muxing
            rows.append((model_fps, video_fps))
    lines = [
        "# Video throughput: `stylize_video` against the Stylizer alone on the same frames",
        "",
        (f"Clip: generated, {width}×{height}, {count} frames at 25 fps with an AAC tone. Model: {label}, "
         f"{stylizer.policy.describe()}, batch {batch}. Video: default settings (`VideoOptions()`: x264 crf 18 "
         "preset medium, audio copied); the time covers everything (probe, decode, model, encode, join, mux). "
         "Stylizer alone: `stylize_frames` on the already decoded frames."),
        f"Machine: {machine()}. Runs alternate so both see the same load.",
        "",
        "| run | Stylizer alone (frames/s) | video pipeline (frames/s) | video / Stylizer |",
        "|---|---|---|---|",
    ]
    lines += [f"| {i + 1} | {m:.2f} | {v:.2f} | {v / m:.0%} |" for i, (m, v) in enumerate(rows)]
    ratio = np.median([v / m for m, v in rows])
    video = np.median([v for _, v in rows])
    lines += ["", (f"Median ratio: {ratio:.0%} (target: within 15%, i.e. ≥ 85%). Median video throughput: "
                  f"{video:.2f} frames/s (issue 17 target at 1280×720 with the lite style: ≥ 3)."), ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("which", choices=["flicker", "memory", "throughput"])
    parser.add_argument("--frames", type=int, default=None, help="clip length (defaults: 48, 1000, 32)")
    parser.add_argument("--repeat", type=int, default=3, help="throughput: alternating runs")
    parser.add_argument("--precision", default="auto", help="throughput: Stylizer precision")
    parser.add_argument("--model", default="shinkai_lite", help="throughput: a zoo name or weights file, or "
                                                               "'standin' (AnimeGANv2, random weights)")
    parser.add_argument("--size", default="1280x720", help="throughput: clip size WxH")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (be frugal on shared machines)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    text = {"flicker": bench_flicker, "memory": bench_memory, "throughput": bench_throughput}[args.which](args)
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = args.which if args.which != "throughput" else f"throughput-{Path(args.model).stem}-{args.size}"
    target = RESULTS / f"video-{name}.md"
    target.write_text(text)
    print(text)
    print(f"written to {target}")


if __name__ == "__main__":
    main()
