r"""Dataset size: what a prepared dataset costs at Kinetics' real size.

  python bench/dataset_size.py [--videos 16] [--batch-size 8]
      [--stored-fps 30] [--jpeg-quality 90]
      [--work-dir /tmp/slowfast_jax_bench_size]
      [--json bench/results/dataset_size.json]

Makes `--videos` synthetic H.264 videos of a typical Kinetics source (10 s,
30 fps, 640x360, crf 23; bench/input_pipeline.py's `make_sources`: a
panning textured scene, moving objects, sensor noise; kept between runs),
prepares them with `slowfast_jax.data.prepare.prepare` (short side 320; by
default 30 fps and JPEG quality 90, `--stored-fps`, `--jpeg-quality`) and
reads them back with
`slowfast_jax.data.pipeline.make_train_dataset` under
configs/slowfast_8x8_r50.py (its shuffle buffer; `--batch-size` clips per
batch). Measures 1-4 use only these two public functions, so they compare
record layouts; 5 needs frames stored apart from the examples. It measures:

1. Size: the sources' mean size per video; the prepared size per video (all
   bytes under the prepared dataset's directory / videos); their ratio.
2. Prepare speed: videos/s of `prepare` with `workers=1` into a fresh
   directory (one decoding process; the main process writes the shards
   alongside it).
3. Bytes read per training clip: Linux `/proc/self/io` `rchar`, the bytes
   this process (all its threads: tf.data readers, Python) got from read()
   calls of any file, served from the page cache or the disk alike; bytes
   count when the pipeline reads them, read-ahead included. After a warm-up
   of `--warmup-epochs` epochs of clips (at least a shuffle buffer's worth,
   so the buffer is full and refilling as in a long run), rchar is read,
   `--window-epochs` epochs of clips (rounded up to whole batches and whole
   epochs) are taken, rchar is read again: delta / clips. Two consecutive
   windows are measured and should agree (a warning if they differ by more
   than 10 %); the figure is their mean. The prepared size per video is
   printed next to it: a ratio near 1 means a clip costs a whole prepared
   video's bytes.
4. Resume cost: the seconds and rchar bytes from `make_train_dataset(config,
   start_step=S)` to its first batch, for S = 0 and S = 90 % of an epoch
   (`examples_per_epoch * 0.9 // batch`), `--resume-rounds` times each,
   alternating (medians reported). With the preset's shuffle buffer (1024)
   holding a whole epoch of these few videos, the first batch waits for the
   buffer either way, so the cost of skipping is measured separately, with
   batches of one clip and a shuffle buffer of `--skip-shuffle-buffer` (1):
   (cost at half an epoch - cost at step 0) / the examples skipped, the
   median over the rounds (their range is printed). Both starts read ahead
   of their first batch by a varying few videos' bytes, hence the range;
   half an epoch keeps that read-ahead inside the epoch, as in a real-size
   one (near the end of these short epochs it is cut off, and the slope
   would come out low).
   Times it by the 216k examples a resume at 90 % of a Kinetics-400 epoch
   (240k videos) skips for the extrapolated figure (it leaves out the
   first batch's own reads and the buffer's fill). Its hours are this
   machine's, reading from the page cache: from a disk, divide the bytes
   by its bandwidth instead.
5. Resume at Kinetics' size, measured: when the frames live apart from the
   examples (`slowfast_jax.data.frame_store`), a train split of 240k
   examples (shards of 32, copies of the prepared ones in turn, sharing
   their frames files) is written beside the dataset, and the first-batch
   cost at step 0 and at 90 % of its epoch is measured as in 4.

Every process on the machine shares its cores; the load average is
recorded. Prints a markdown table and writes JSON.
"""

import argparse
import gc
import json
import math
import os
import pathlib
import platform
import shutil
import statistics
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

# pylint: disable=g-import-not-at-top
SECONDS, FPS, HEIGHT, WIDTH = 10.0, 30, 360, 640  # A typical Kinetics source.
SHORT_SIDE, JPEG_QUALITY = 320, 90
KINETICS_VIDEOS = 240_000  # Kinetics-400 train.
RESUME_FRACTION = 0.9
NAME = "bench_dataset_size"
MB, TB = 1e6, 1e12


def read_chars() -> int:
  """This process's `rchar`: bytes returned by its read() calls so far."""
  with open("/proc/self/io") as f:
    for line in f:
      if line.startswith("rchar:"):
        return int(line.split()[1])
  raise RuntimeError("no rchar in /proc/self/io")


def make_videos(work_dir, count) -> tuple[str, list[str]]:
  """The list file and paths of `count` source videos (made if missing)."""
  import input_pipeline  # bench/input_pipeline.py
  folder = os.path.join(work_dir, f"videos_{HEIGHT}x{WIDTH}_{SECONDS:g}s")
  list_file = input_pipeline.make_sources(folder, count, SECONDS, HEIGHT,
                                          WIDTH)
  with open(list_file) as f:
    lines = [line.split() for line in f if line.strip()]
  return list_file, [os.path.join(folder, path) for path, _ in lines]


def count_classes(list_file) -> int:
  with open(list_file) as f:
    return len({line.split()[1] for line in f if line.strip()})


def directory_bytes(path) -> int:
  """All bytes of the files under `path`."""
  return sum(os.path.getsize(os.path.join(folder, file))
             for folder, _, files in os.walk(path) for file in files)


def prepare_fresh(list_file, data_dir, workers, stored):
  """Prepares the videos into an emptied `data_dir` at `stored` (`fps`,
  `jpeg_quality`): (summary, seconds)."""
  from slowfast_jax.data import prepare
  shutil.rmtree(data_dir, ignore_errors=True)
  start = time.perf_counter()
  summary = prepare.prepare(
      name=NAME, video_dir=os.path.dirname(list_file),
      splits={"train": list_file}, data_dir=data_dir, fps=stored["fps"],
      short_side=SHORT_SIDE, workers=workers,
      jpeg_quality=stored["jpeg_quality"],
      progress=False)
  seconds = time.perf_counter() - start
  if summary.skipped:
    raise RuntimeError(f"prepare skipped videos: {summary.skipped}")
  return summary, seconds


def train_config(data_dir, batch_size, num_classes, shuffle_buffer=None):
  """The SlowFast 8x8 preset on the prepared dataset."""
  from common import load_preset  # bench/common.py
  config = load_preset("slowfast_8x8_r50")
  config.data.name = NAME
  config.data.data_dir = data_dir
  config.global_batch_size = batch_size
  config.model.num_classes = num_classes
  if shuffle_buffer is not None:
    config.data.shuffle_buffer = shuffle_buffer
  return config


def window_clips(epoch, batch_size, epochs) -> int:
  """At least `epochs` epochs of clips, in whole batches and whole epochs."""
  step = math.lcm(epoch, batch_size)
  return step * max(1, math.ceil(epochs * epoch / step))


def read_per_clip(config, epoch, warmup_epochs, window_epochs, windows=2):
  """rchar bytes per clip (and clips/s) over consecutive windows."""
  from slowfast_jax.data import pipeline
  batch_size = config.global_batch_size
  iterator = iter(pipeline.make_train_dataset(config))
  buffer = min(config.data.shuffle_buffer, epoch)  # Refilled each epoch.
  warmup = max(window_clips(epoch, batch_size, warmup_epochs),
               buffer + batch_size)
  for _ in range(-(-warmup // batch_size)):
    next(iterator)
  clips = window_clips(epoch, batch_size, window_epochs)
  results = []
  for _ in range(windows):
    chars, start = read_chars(), time.perf_counter()
    for _ in range(clips // batch_size):
      next(iterator)
    seconds, read = time.perf_counter() - start, read_chars() - chars
    results.append({"clips": clips, "bytes": read,
                    "bytes_per_clip": read / clips,
                    "clips_per_s": clips / seconds})
  del iterator
  return warmup, results


def first_batch_cost(config, start_step) -> dict:
  """Seconds and rchar bytes from `make_train_dataset` to its first batch."""
  from slowfast_jax.data import pipeline
  gc.collect()  # Earlier iterators (and their reader threads) are gone.
  chars, start = read_chars(), time.perf_counter()
  iterator = iter(pipeline.make_train_dataset(config, start_step=start_step))
  next(iterator)
  seconds, read = time.perf_counter() - start, read_chars() - chars
  del iterator
  return {"seconds": seconds, "bytes": read}


def resume_costs(config, steps, rounds) -> dict:
  """Median `first_batch_cost` of each start step, taking turns."""
  runs = {step: [] for step in steps}
  for _ in range(rounds):
    for step in steps:
      runs[step].append(first_batch_cost(config, step))
  return {step: {"seconds": statistics.median(r["seconds"] for r in rs),
                 "bytes": statistics.median(r["bytes"] for r in rs),
                 "runs": rs}
          for step, rs in runs.items()}


def per_skipped_example(costs, steps, batch_size) -> dict:
  """The slope of the resume cost in skipped examples: the median of the
  rounds' (cost at `steps[1]` - cost at `steps[0]`) / skipped, and its
  range over the rounds."""
  skipped = (steps[1] - steps[0]) * batch_size
  pairs = zip(costs[steps[0]]["runs"], costs[steps[1]]["runs"])
  slopes = [{key: (last[key] - first[key]) / skipped
             for key in ("seconds", "bytes")} for first, last in pairs]
  result = {"skipped": skipped, "rounds": slopes}
  for key in ("seconds", "bytes"):
    values = [slope[key] for slope in slopes]
    result[key] = statistics.median(values)
    result[f"{key}_range"] = [min(values), max(values)]
  return result


def kinetics_size_index(data_dir, videos_per_shard=32) -> str:
  """A dataset of Kinetics-400's size that shares the prepared frames.

  Its train split holds `KINETICS_VIDEOS` examples in shards of
  `videos_per_shard` (prepare's default), copies of the prepared examples
  in turn; its frames files are links to the prepared ones. Only a dataset
  whose frames live apart from its examples (`frame_store`) can be built
  so; returns its name, or None for whole videos in each example.
  """
  import tensorflow as tf
  from slowfast_jax.data import builder
  from slowfast_jax.data import frame_store
  prepared = builder.load(data_dir, NAME)
  directory = builder.version_dir(data_dir, NAME)
  name = f"{NAME}_kinetics_size"
  target = builder.version_dir(data_dir, name)
  if builder.is_complete(target):
    return name
  shutil.rmtree(target, ignore_errors=True)
  os.makedirs(target)
  files = [fi.filename for fi in
           prepared.info.splits["train"].file_instructions]
  examples = list(tf.data.TFRecordDataset(files).as_numpy_iterator())
  for file in os.listdir(directory):
    if file.endswith(frame_store.SUFFIX):
      os.symlink(os.path.join(directory, file), os.path.join(target, file))
  num_shards = -(-KINETICS_VIDEOS // videos_per_shard)
  paths = builder.shard_paths(target, name, "train", num_shards)
  lengths, num_bytes = [], 0
  for shard, path in enumerate(paths):
    first = shard * videos_per_shard
    count = min(videos_per_shard, KINETICS_VIDEOS - first)
    num_bytes += builder.write_records(
        path, [examples[(first + i) % len(examples)] for i in range(count)])
    lengths.append(count)
  metadata = prepared.info.metadata
  builder.write_metadata(
      target, name, builder.class_names_of(prepared.info.features),
      {"train": lengths}, {"train": num_bytes}, fps=metadata["fps"],
      short_side=metadata["short_side"], description="bench index",
      chunk_frames=metadata["chunk_frames"])
  return name


def measure_kinetics_size_resume(args, data_dir, classes) -> dict | None:
  """First-batch cost at step 0 and at 90 % of a Kinetics-400-size epoch,
  measured (the frame-store layout only; None otherwise)."""
  from slowfast_jax.data import builder
  if not builder.has_frame_store(builder.version_dir(data_dir, NAME)):
    return None
  start = time.perf_counter()
  name = kinetics_size_index(data_dir)
  built = time.perf_counter() - start
  config = train_config(data_dir, args.batch_size, classes)
  config.data.name = name
  steps = (0, int(KINETICS_VIDEOS * RESUME_FRACTION // args.batch_size))
  costs = resume_costs(config, steps, max(1, args.resume_rounds // 2))
  return {"examples": KINETICS_VIDEOS, "step_90": steps[1],
          "index_seconds": built, "step_0": costs[0],
          "at_90": costs[steps[1]]}


def load_average() -> float:
  return os.getloadavg()[0]


def table(r) -> str:
  """The results as a markdown table."""
  size, prep, clip, resume = (r["size"], r["prepare"], r["read_per_clip"],
                              r["resume"])
  per_video = size["prepared_bytes_per_video"]
  windows = ", ".join(f"{w['bytes_per_clip'] / MB:.1f}"
                      for w in clip["windows"])
  skip, k400 = resume["per_skipped_example"], resume["kinetics400"]
  step, buffer = resume["step_90"], resume["shuffle_buffer"]
  rows = [
      ("source per video", f"{size['source_bytes_per_video'] / MB:.2f} MB",
       f"{SECONDS:g} s H.264 {WIDTH}x{HEIGHT} crf 23, "
       f"{size['source_mbit_s']:.2f} Mbit/s"),
      ("prepared per video", f"{per_video / MB:.2f} MB",
       f"dataset directory / {r['videos']} videos "
       f"({r['prepared']['fps']:g} fps JPEG q"
       f"{r['prepared']['jpeg_quality']}, short side {SHORT_SIDE})"),
      ("prepared / source", f"{size['ratio']:.2f}x", ""),
      ("prepared, Kinetics-400 train",
       f"{size['kinetics400_bytes'] / TB:.2f} TB",
       f"extrapolated: {KINETICS_VIDEOS:,} videos"),
      ("prepare speed", f"{prep['videos_per_s_per_core']:.3f} videos/s/core",
       f"workers=1, {r['videos']} videos in {prep['seconds']:.1f} s"),
      ("prepare, Kinetics-400 train",
       f"{prep['kinetics400_core_hours']:.0f} core-hours",
       f"extrapolated: {KINETICS_VIDEOS:,} videos"),
      ("read per training clip", f"{clip['bytes_per_clip'] / MB:.2f} MB",
       f"rchar; windows of {clip['window_clips']} clips: {windows} MB; "
       f"{clip['bytes_per_clip'] / per_video:.2f}x a prepared video"),
      ("resume at step 0: first batch",
       f"{resume['step_0']['seconds']:.2f} s, "
       f"{resume['step_0']['bytes'] / MB:.0f} MB",
       f"shuffle buffer {buffer}"),
      (f"resume at step {step} (90 % of an epoch): first batch",
       f"{resume['at_90']['seconds']:.2f} s, "
       f"{resume['at_90']['bytes'] / MB:.0f} MB",
       f"shuffle buffer {buffer}"),
      ("resume: per skipped example",
       f"{skip['bytes'] / MB:.2f} MB, {skip['seconds'] * 1e3:.1f} ms",
       f"batch 1: step 0 vs {skip['skipped']}, shuffle buffer "
       f"{resume['skip_shuffle_buffer']}; rounds "
       + "-".join(f"{b / MB:.1f}" for b in skip["bytes_range"]) + " MB"),
      ("resume at 90 % of a Kinetics-400 epoch",
       f"{k400['bytes'] / TB:.2f} TB, {k400['seconds'] / 3600:.1f} h",
       f"extrapolated: {k400['skipped']:,} skipped examples (h: this "
       "machine, page cache)"),
  ]
  measured = resume.get("kinetics_size")
  for key, label in (("step_0", "step 0"), ("at_90", "90 %")):
    if measured:
      rows.append((
          f"resume at {label} of a Kinetics-400-size epoch: first batch",
          f"{measured[key]['seconds']:.2f} s, "
          f"{measured[key]['bytes'] / MB:.0f} MB",
          f"measured: {measured['examples']:,} examples sharing these "
          f"videos' frames, step {measured['step_90'] if key == 'at_90' else 0}"
          f", shuffle buffer {buffer}"))
    else:
      rows.append((f"resume at {label} of a Kinetics-400-size epoch",
                   "n/a", "whole videos in each example: needs the "
                   "Kinetics-size data"))
  lines = ["| measure | value | how |", "|---|---:|---|"]
  lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
  return "\n".join(lines)


def parse_args():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--work-dir", default="/tmp/slowfast_jax_bench_size")
  parser.add_argument("--videos", type=int, default=16)
  parser.add_argument("--batch-size", type=int, default=8)
  parser.add_argument("--stored-fps", type=float, default=FPS,
                      help="prepare's --fps")
  parser.add_argument("--jpeg-quality", type=int, default=JPEG_QUALITY,
                      help="prepare's --jpeg-quality")
  parser.add_argument("--warmup-epochs", type=float, default=2.0)
  parser.add_argument("--window-epochs", type=float, default=8.0,
                      help="epochs of clips per rchar window")
  parser.add_argument("--resume-rounds", type=int, default=7)
  parser.add_argument("--skip-shuffle-buffer", type=int, default=1,
                      help="shuffle buffer of the per-skipped-example runs")
  parser.add_argument("--json", default=str(ROOT / "bench" / "results" /
                                            "dataset_size.json"))
  return parser.parse_args()


def measure_size(paths, directory, videos) -> dict:
  source = sum(os.path.getsize(p) for p in paths)
  prepared = directory_bytes(directory)
  return {"source_bytes_per_video": source / videos,
          "source_mbit_s": source * 8 / (videos * SECONDS) / MB,
          "prepared_bytes": prepared,
          "prepared_bytes_per_video": prepared / videos,
          "ratio": prepared / source,
          "kinetics400_bytes": prepared / videos * KINETICS_VIDEOS}


def measure_prepare(list_file, data_dir, videos, stored):
  cpu = time.process_time()
  summary, seconds = prepare_fresh(list_file, data_dir, 1, stored)
  rate = videos / seconds
  return summary, {"workers": 1, "seconds": seconds,
                   "videos_per_s_per_core": rate,
                   "main_process_cpu_seconds": time.process_time() - cpu,
                   "kinetics400_core_hours": KINETICS_VIDEOS / rate / 3600}


def measure_resume(args, data_dir, classes, epoch) -> dict:
  steps = (0, int(epoch * RESUME_FRACTION // args.batch_size))
  if steps[1] == 0:
    raise ValueError("90 % of an epoch is less than a batch: use more "
                     "--videos or a smaller --batch-size")
  preset = train_config(data_dir, args.batch_size, classes)
  costs = resume_costs(preset, steps, args.resume_rounds)
  # Batches of one clip (the least decoding); half an epoch, so both starts
  # read ahead of their first batch equally, inside the epoch.
  skip_steps = (0, epoch // 2)
  small = train_config(data_dir, 1, classes, args.skip_shuffle_buffer)
  skip_costs = resume_costs(small, skip_steps, args.resume_rounds)
  skip = per_skipped_example(skip_costs, skip_steps, 1)
  skipped = int(KINETICS_VIDEOS * RESUME_FRACTION)
  return {"shuffle_buffer": preset.data.shuffle_buffer,
          "step_90": steps[1], "step_0": costs[0], "at_90": costs[steps[1]],
          "skip_shuffle_buffer": args.skip_shuffle_buffer,
          "skip_runs": {str(k): v for k, v in skip_costs.items()},
          "per_skipped_example": skip,
          "kinetics400": {"skipped": skipped,
                          "bytes": skip["bytes"] * skipped,
                          "seconds": skip["seconds"] * skipped}}


def main():
  args = parse_args()
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  load = [load_average()]
  start = time.perf_counter()
  list_file, paths = make_videos(args.work_dir, args.videos)
  print(f"sources ready in {time.perf_counter() - start:.1f} s")
  classes = count_classes(list_file)
  data_dir = os.path.join(args.work_dir, "tfds")

  stored = {"fps": args.stored_fps, "jpeg_quality": args.jpeg_quality}
  summary, prep = measure_prepare(list_file, data_dir, args.videos, stored)
  print(f"prepared in {prep['seconds']:.1f} s")
  size = measure_size(paths, summary.directory, args.videos)
  epoch = summary.written["train"]

  config = train_config(data_dir, args.batch_size, classes)
  warmup, windows = read_per_clip(config, epoch, args.warmup_epochs,
                                  args.window_epochs)
  per_clip = [w["bytes_per_clip"] for w in windows]
  clip = {"warmup_clips": warmup, "window_clips": windows[0]["clips"],
          "windows": windows, "bytes_per_clip": statistics.mean(per_clip),
          "windows_differ_by": (max(per_clip) - min(per_clip)) /
                               statistics.mean(per_clip)}
  print(f"read per clip: {[f'{b / MB:.2f} MB' for b in per_clip]}")
  resume = measure_resume(args, data_dir, classes, epoch)
  resume["kinetics_size"] = measure_kinetics_size_resume(args, data_dir,
                                                         classes)
  load.append(load_average())

  result = {"videos": args.videos, "batch_size": args.batch_size,
            "sources": {"seconds": SECONDS, "fps": FPS, "width": WIDTH,
                        "height": HEIGHT, "crf": 23},
            "prepared": {**stored, "short_side": SHORT_SIDE},
            "size": size, "prepare": prep, "read_per_clip": clip,
            "resume": resume,
            "machine": {"cores": os.cpu_count(),
                        "python": platform.python_version(),
                        "load_average_1min": load}}
  print()
  print(table(result))
  if clip["windows_differ_by"] > 0.1:
    print(f"WARNING: the rchar windows differ by "
          f"{clip['windows_differ_by']:.0%}; use a larger --window-epochs")
  print(f"(load average {load[0]:.2f} -> {load[1]:.2f})")
  os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
  with open(args.json, "w") as f:
    json.dump(result, f, indent=2)
  print(f"wrote {args.json}")


if __name__ == "__main__":
  main()
