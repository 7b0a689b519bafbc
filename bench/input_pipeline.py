r"""Training-input throughput: pre-decoded TFDS clips vs on-the-fly PyAV decoding.

  python bench/input_pipeline.py [--videos 12] [--seconds 10] [--rounds 3]

Needs torch (`pip install -r requirements-dev.txt`) for the release's
transforms.

Both sides produce the same training clips of SlowFast 8x8 (32 frames,
sampling rate 2 at 30 fps, scale jitter [256, 320], crop 224, flip):

* pre-decoded: `slowfast_jax.data.pipeline.make_train_dataset` on the videos
  prepared by `slowfast_jax.data.prepare` (JPEG frames, short side 320). It
  emits uint8 clips; normalization and the Slow/Fast split run later, inside
  the jitted model input function on the accelerator (not timed here).
* on the fly: what the release's loader does per clip: open the mp4 with
  PyAV, seek to the random window (release `pyav_decode_stream`: seek 1024
  ticks before, decode to the window's end), convert frames to RGB, take the
  release's linspace indices, then the release's transforms in torch (/255,
  normalize, `F.interpolate` scale jitter, crop, flip, Slow/Fast split), in
  `--workers` processes with one torch thread each (the release's
  DataLoader workers).

Source videos are synthetic H.264 (moving textured objects, a panning camera
and sensor-like noise) at short side 320, so both sides read the same pixels.
Everything is read from the page cache; both sides get the same cores, in
alternating rounds (the median is reported). Prints a table and writes JSON
(default `bench/results/input_pipeline.json`).
"""

import argparse
import json
import multiprocessing
import os
import platform
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# pylint: disable=g-import-not-at-top
from slowfast_jax.data import decode
from slowfast_jax.data import sampling
from slowfast_jax.data import synthetic

NUM_FRAMES, SAMPLING_RATE, TARGET_FPS = 32, 2, 30
JITTER, CROP = (256, 320), 224


def natural_like_video(rng, height, width, num_frames):
  """Camera pan over a textured scene, moving objects, sensor noise."""
  scene_h, scene_w = height + num_frames, width + 2 * num_frames
  scene = 128 + 60 * synthetic.smooth_texture(rng, scene_h, scene_w, cell=24)
  scene += 25 * synthetic.smooth_texture(rng, scene_h, scene_w, cell=4)
  objects = []
  for _ in range(5):
    size = int(rng.integers(30, 80))
    texture = 128 + 100 * synthetic.smooth_texture(rng, size, size, cell=6)
    objects.append((texture, rng.uniform(0, height), rng.uniform(0, width),
                    rng.uniform(-3, 3), rng.uniform(-3, 3)))
  frames = np.empty((num_frames, height, width, 3), np.uint8)
  for t in range(num_frames):
    frame = scene[t // 2:t // 2 + height, t:t + width].copy()
    for texture, y, x, vy, vx in objects:
      size = texture.shape[0]
      y0 = int(y + vy * t) % (height - size)
      x0 = int(x + vx * t) % (width - size)
      frame[y0:y0 + size, x0:x0 + size] = texture
    frame += rng.normal(0, 3, frame.shape)
    frames[t] = np.clip(frame, 0, 255).astype(np.uint8)
  return frames


def make_sources(folder, count, seconds, height, width):
  os.makedirs(folder, exist_ok=True)
  lines = []
  for i in range(count):
    path = os.path.join(folder, f"video{i:03d}.mp4")
    if not os.path.exists(path):
      rng = np.random.default_rng(i)
      frames = natural_like_video(rng, height, width,
                                  int(seconds * TARGET_FPS))
      synthetic.write_video(path, frames, TARGET_FPS, crf=23)
    lines.append(f"video{i:03d}.mp4 {i % 4}\n")
  with open(os.path.join(folder, "train.csv"), "w") as f:
    f.writelines(lines)
  return os.path.join(folder, "train.csv")


# ---- On-the-fly baseline (runs in worker processes). ----

_torch = None
_tf = None
MEAN, STD = (0.45, 0.45, 0.45), (0.225, 0.225, 0.225)
ALPHA = 4


def _init_worker():
  global _torch, _tf
  import torch
  torch.set_num_threads(1)  # As in the release's DataLoader workers.
  _torch = torch
  os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
  import tensorflow as tf
  tf.config.threading.set_intra_op_parallelism_threads(1)
  tf.config.threading.set_inter_op_parallelism_threads(1)
  _tf = tf


def project_transform(clip, seed):
  """This project's uint8 scale/crop/flip (`transforms.train_augment`)."""
  from slowfast_jax.data import transforms
  out = transforms.train_augment(
      _tf.constant(clip), jitter_scales=JITTER, crop_size=CROP, flip=True,
      seed=_tf.constant([seed, 0], _tf.int64)).numpy()
  return out.shape, (NUM_FRAMES // ALPHA,) + out.shape[1:]


def release_transform(clip, rng):
  """The release's per-clip transforms on decoded uint8 frames, in torch.

  /255, normalize, C x T x H x W, short side to int(round(U(256, 320)))
  with `F.interpolate` (bilinear, align_corners=False), random 224 crop,
  flip with p = 0.5, then the Slow/Fast split (`pack_pathway_output`).
  """
  torch = _torch
  frames = torch.from_numpy(clip).float() / 255.0
  frames = (frames - torch.tensor(MEAN)) / torch.tensor(STD)
  frames = frames.permute(3, 0, 1, 2)
  size = int(round(rng.uniform(*JITTER)))
  height, width = frames.shape[2:]
  new_h, new_w = decode.resized_shape(height, width, size)
  if (new_h, new_w) != (height, width):
    frames = torch.nn.functional.interpolate(
        frames, size=(new_h, new_w), mode="bilinear", align_corners=False)
  y = int(rng.integers(0, new_h - CROP)) if new_h > CROP else 0
  x = int(rng.integers(0, new_w - CROP)) if new_w > CROP else 0
  frames = frames[:, :, y:y + CROP, x:x + CROP]
  if rng.uniform() < 0.5:
    frames = frames.flip(-1)
  slow_index = torch.linspace(0, frames.shape[1] - 1,
                              frames.shape[1] // ALPHA).long()
  return [torch.index_select(frames, 1, slow_index), frames]


def pyav_clip(task):
  """One training clip decoded on the fly, as the release's PyAV path.

  Returns the shapes of the Fast and Slow clips.
  """
  import av
  path, seed, transform = task
  rng = np.random.default_rng(seed)
  with av.open(path) as container:
    stream = container.streams.video[0]
    fps = float(stream.average_rate)
    frames_length = stream.frames
    window = sampling.clip_size(NUM_FRAMES, SAMPLING_RATE, TARGET_FPS, fps)
    delta = max(frames_length - window, 0)
    start_idx = rng.uniform(0, delta)
    end_idx = start_idx + window - 1
    timebase = stream.duration / frames_length
    start_pts, end_pts = int(start_idx * timebase), int(end_idx * timebase)
    container.seek(max(start_pts - 1024, 0), any_frame=False, backward=True,
                   stream=stream)
    frames = {}
    for frame in container.decode(stream):
      if frame.pts < start_pts:
        continue
      frames[frame.pts] = frame
      if frame.pts > end_pts:
        break
    rgb = np.stack([frames[pts].to_ndarray(format="rgb24")
                    for pts in sorted(frames)])
  # Release: the decoded segment is sampled from its own start.
  clip = rgb[sampling.clip_indices_np(0.0, window, NUM_FRAMES, len(rgb))]
  if transform == "project":
    return project_transform(clip, seed)
  slow, fast = release_transform(clip, rng)
  return tuple(fast.shape[1:]) + (3,), tuple(slow.shape[1:]) + (3,)


class OnTheFly:
  """The baseline: clips decoded by a pool of worker processes."""

  def __init__(self, paths, workers, transform):
    self._paths = paths
    self._transform = transform
    self._next = 0
    context = multiprocessing.get_context("spawn")
    self._pool = context.Pool(workers, initializer=_init_worker)
    self.clips(2 * workers)  # Warm up: imports, first decodes.

  def _tasks(self, count):
    tasks = [(self._paths[i % len(self._paths)], i, self._transform)
             for i in range(self._next, self._next + count)]
    self._next += count
    return tasks

  def clips(self, count):
    start = time.perf_counter()
    for fast, slow in self._pool.imap_unordered(pyav_clip, self._tasks(count),
                                                chunksize=1):
      assert tuple(fast) == (NUM_FRAMES, CROP, CROP, 3), fast
      assert tuple(slow) == (NUM_FRAMES // ALPHA, CROP, CROP, 3), slow
    return time.perf_counter() - start

  def close(self):
    self._pool.terminate()


class PreDecoded:
  """The pipeline under test: `make_train_dataset` on the prepared videos."""

  def __init__(self, data_dir, name, batch_size):
    from slowfast_jax import config_lib
    from slowfast_jax.data import pipeline
    config = config_lib.kinetics_config(
        config_lib.model_config(num_frames=NUM_FRAMES, alpha=4))
    config.data.name = name
    config.data.data_dir = data_dir
    config.data.sampling_rate = SAMPLING_RATE
    config.data.shuffle_buffer = 64
    config.global_batch_size = batch_size
    self.batch_size = batch_size
    self._dataset = pipeline.make_train_dataset(config)

  def clips(self, count):
    # A fresh iterator per round, warmed up, and deleted afterwards: a live
    # one keeps filling its prefetch buffers (and using the cores) while the
    # other side is timed.
    iterator = iter(self._dataset)
    for _ in range(2):
      next(iterator)
    start = time.perf_counter()
    for _ in range(-(-count // self.batch_size)):
      batch = next(iterator)
      assert batch["video"].shape == (self.batch_size, NUM_FRAMES, CROP, CROP,
                                      3)
    seconds = time.perf_counter() - start
    del iterator
    return seconds


def timed(fn, count):
  return count / fn(count)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--work-dir", default="/tmp/slowfast_jax_bench_input")
  parser.add_argument("--videos", type=int, default=12)
  parser.add_argument("--seconds", type=float, default=10.0)
  parser.add_argument("--height", type=int, default=320)
  parser.add_argument("--width", type=int, default=426)
  parser.add_argument("--clips", type=int, default=48,
                      help="clips timed per side per round")
  parser.add_argument("--rounds", type=int, default=3)
  parser.add_argument("--batch-size", type=int, default=8)
  parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                      help="processes for prepare and for the baseline")
  parser.add_argument("--json", default=os.path.join(
      os.path.dirname(os.path.abspath(__file__)), "results",
      "input_pipeline.json"))
  args = parser.parse_args()
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  cores = os.cpu_count() or 1

  source_dir = os.path.join(args.work_dir, "videos")
  data_dir = os.path.join(args.work_dir, "tfds")
  name = "bench_videos"
  start = time.perf_counter()
  train_list = make_sources(source_dir, args.videos, args.seconds,
                            args.height, args.width)
  print(f"sources ready in {time.perf_counter() - start:.1f} s")

  from slowfast_jax.data import prepare
  start = time.perf_counter()
  summary = prepare.prepare(
      name=name, video_dir=source_dir, splits={"train": train_list},
      data_dir=data_dir, fps=TARGET_FPS, short_side=args.height,
      workers=args.workers, videos_per_shard=4, progress=False,
      overwrite=True)  # The bench's own dataset (e.g. of an older layout).
  prepare_seconds = time.perf_counter() - start
  assert not summary.skipped, summary.skipped

  paths = [os.path.join(source_dir, f"video{i:03d}.mp4")
           for i in range(args.videos)]
  source_bytes = sum(os.path.getsize(p) for p in paths)
  frames_total = args.videos * int(args.seconds * TARGET_FPS)
  from slowfast_jax.data import builder
  shard_bytes = builder.data_bytes(summary.directory)

  # Rounds alternate between the sides so that all see the same load (the
  # machine may be shared).
  sides = {
      "pre_decoded": PreDecoded(data_dir, name, args.batch_size),
      "on_the_fly": OnTheFly(paths, args.workers, "release"),
      "on_the_fly_project_transform": OnTheFly(paths, args.workers,
                                               "project"),
  }
  labels = {
      "pre_decoded": "pre-decoded (TFDS JPEG, tf.data)",
      "on_the_fly": "on the fly (PyAV + release transforms)",
      "on_the_fly_project_transform": "on the fly (PyAV + this project's)",
  }
  clips = -(-args.clips // args.batch_size) * args.batch_size
  rounds = []
  load = [os.getloadavg()[0]]
  for r in range(args.rounds):
    rates = {key: timed(side.clips, clips) for key, side in sides.items()}
    rates["speedup"] = rates["pre_decoded"] / rates["on_the_fly"]
    rounds.append(rates)
    print(f"round {r + 1}: " + ", ".join(
        f"{key} {rate:.2f}" for key, rate in rates.items()))
  for side in sides.values():
    if isinstance(side, OnTheFly):
      side.close()
  load.append(os.getloadavg()[0])
  medians = {key: float(np.median([r[key] for r in rounds]))
             for key in sides}
  speedup = float(np.median([r["speedup"] for r in rounds]))
  pre_rate = medians["pre_decoded"]

  print()
  print(f"median of {args.rounds} rounds of {clips} clips per side "
        f"(load average {load[0]:.2f} -> {load[1]:.2f}):")
  print(f"{'pipeline':40s} {'clips/s':>9s} {'clips/s/core':>13s} "
        f"{'pre-decoded is':>15s}")
  for key, rate in medians.items():
    print(f"{labels[key]:40s} {rate:9.2f} {rate / cores:13.2f} "
          f"{pre_rate / rate:14.2f}x")
  print(f"speed-up over the release's loader: {speedup:.2f}x on {cores} "
        "cores")
  print(f"(sources: {args.videos} x {args.seconds:g} s H.264 "
        f"{args.width}x{args.height}, "
        f"{source_bytes * 8 / (args.videos * args.seconds) / 1e6:.2f} Mbit/s; "
        f"stored: {shard_bytes / frames_total / 1e3:.1f} kB/frame JPEG; "
        + (f"prepare took {prepare_seconds:.1f} s = "
           f"{summary.processed_now / prepare_seconds:.2f} videos/s)"
           if summary.processed_now else "prepared dataset reused)"))

  result = {
      "machine": {"cores": cores, "cpu": _cpu_name(),
                  "python": platform.python_version()},
      "clip": {"num_frames": NUM_FRAMES, "sampling_rate": SAMPLING_RATE,
               "target_fps": TARGET_FPS, "jitter_scales": list(JITTER),
               "crop": CROP, "flip": True},
      "sources": {"videos": args.videos, "seconds": args.seconds,
                  "width": args.width, "height": args.height,
                  "bitrate_mbit_s": source_bytes * 8 /
                                    (args.videos * args.seconds) / 1e6},
      "prepared": {"bytes_per_frame": shard_bytes / frames_total,
                   "prepare_seconds": prepare_seconds,
                   "videos_decoded_by_this_run": summary.processed_now},
      "pre_decoded": {"clips_per_s": pre_rate,
                      "clips_per_s_per_core": pre_rate / cores,
                      "batch_size": args.batch_size},
      "on_the_fly": {"clips_per_s": medians["on_the_fly"],
                     "clips_per_s_per_core": medians["on_the_fly"] / cores,
                     "transforms": "release (torch, float)",
                     "workers": args.workers},
      "on_the_fly_project_transform": {
          "clips_per_s": medians["on_the_fly_project_transform"],
          "clips_per_s_per_core":
              medians["on_the_fly_project_transform"] / cores,
          "transforms": "slowfast_jax.data.transforms (uint8)",
          "workers": args.workers},
      "speedup": speedup,
      "rounds": rounds,
      "clips_per_round": clips,
      "load_average_1min": {"start": load[0], "end": load[1]},
  }
  os.makedirs(os.path.dirname(args.json), exist_ok=True)
  with open(args.json, "w") as f:
    json.dump(result, f, indent=2)
  print(f"wrote {args.json}")


def _cpu_name():
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        if line.startswith("model name"):
          return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return platform.processor()


if __name__ == "__main__":
  main()
