r"""AVA v2.2 (movies or extracted frames) -> a prepared dataset of keyframes.

  python -m slowfast_jax.data.ava_prepare \
      --config configs/ava_slowfast_32x2_r50_short.py \
      --annotation-dir /data/ava/annotations --video-dir /data/ava/movies \
      --data-dir /data/tfds --workers 16

Reads, relative to `--annotation-dir`, the box files the config's
`data.train_gt_box_lists`, `train_predict_box_lists` (split `train`) and
`test_predict_box_lists` (split `val`) name, keeps predicted boxes scoring at
least `data.detection_score_thresh`, merges a frame's rows by box
(`ava_annotations`) and keeps the seconds in `data.keyframe_seconds`. Frames
come from `--video-dir/VIDEO_ID.*` (the movies; frame i is shown at i / 30
s) or `--frame-dir/VIDEO_ID/VIDEO_ID_NNNNNN.jpg` (the release's frames at 30
fps, file 1 showing second `data.frames_start_second`).

Each keyframe becomes one example holding the `--window` frames around it
(default the config's clip span, `num_frames * sampling_rate`), resized to
short side `--short-side` (default the largest training scale,
`data.train_jitter_scales[1]`). Each movie is one shard, written by a worker
process; a finished shard is never redone (re-run to resume). The label map,
exclusions and validation ground truth are copied next to the data.

A missing movie, or a keyframe whose frames are missing or unreadable, is
skipped and listed in `skipped_keyframes.tsv`. Exit status: 0 if everything
was written, else the number of report rows (at most 254); 255 for an error
that stops the job.
"""

import concurrent.futures
import dataclasses
import hashlib
import json
import multiprocessing
import os
import shutil
import sys
import time

from absl import app
from absl import flags
from ml_collections import config_flags

from slowfast_jax.data import ava_annotations
from slowfast_jax.data import ava_frames
from slowfast_jax.data import ava_prepare_worker
from slowfast_jax.data import prepare

FATAL = prepare.FATAL
SPLITS = ("train", "val")


class PrepareError(Exception):
  """An error that stops prepare before it writes anything."""


@dataclasses.dataclass
class Summary:
  """What an AVA prepare run produced."""
  directory: str
  keyframes: dict[str, int]  # Per split: keyframes in the annotations.
  written: dict[str, int]  # Per split: examples written.
  skipped: list[tuple[str, str, str, str]]  # split, video_id, second, reason
  num_bytes: dict[str, int]  # Per split: bytes of the shards.
  source_bytes: dict[str, int]  # Per split: bytes of movies / frames read.
  seconds: float
  report_path: str

  @property
  def exit_code(self) -> int:
    return min(len(self.skipped), 254)


def _tasks(keyframes, *, split, name, directory, video_dir, frame_dir,
           first_index, window, short_side, jpeg_quality):
  from slowfast_jax.data import builder  # pylint: disable=g-import-not-at-top
  videos = ava_annotations.by_video(keyframes)
  paths = builder.shard_paths(directory, name, split, len(videos))
  tasks = []
  for path, (video_id, frames) in zip(paths, videos.items()):
    movie = None
    if video_dir:
      movie = (ava_frames.find_movie(video_dir, video_id) or
               os.path.join(video_dir, video_id + ".mp4"))
    tasks.append(ava_prepare_worker.Task(
        video_id=video_id, keyframes=tuple(frames), movie=movie,
        frame_dir=frame_dir, first_index=first_index, window=window,
        fps=float(ava_annotations.AVA_FPS), short_side=short_side,
        jpeg_quality=jpeg_quality, path=path))
  return tasks


def _state_path(directory, split, shard):
  return os.path.join(directory, ".prepare", f"{split}-{shard:05d}.json")


def _run(tasks, workers):
  """Yields `(index, Result)` as the movies finish."""
  if workers == 0:
    for i, task in enumerate(tasks):
      yield i, ava_prepare_worker.process_movie(task)
    return
  context = multiprocessing.get_context("spawn")
  with concurrent.futures.ProcessPoolExecutor(workers,
                                              mp_context=context) as pool:
    futures = {pool.submit(ava_prepare_worker.process_movie, t): i
               for i, t in enumerate(tasks)}
    for future in concurrent.futures.as_completed(futures):
      yield futures[future], future.result()


def _copy_evaluation_files(config, annotation_dir, directory) -> None:
  data = config.data
  copies = {data.label_map_file: "label_map.pbtxt",
            data.exclusion_file: "excluded_timestamps.csv",
            data.groundtruth_file: "val_groundtruth.csv"}
  for source, target in copies.items():
    path = os.path.join(annotation_dir, source)
    if os.path.exists(path):
      shutil.copyfile(path, os.path.join(directory, target))
    else:
      print(f"warning: {path} not found; not copied", file=sys.stderr)


def _read_keyframes(data, splits, annotation_dir: str, seconds):
  """`({split: keyframes}, {split: box files relative to annotation_dir})`."""
  keyframes, box_files = {}, {}
  for split in splits:
    files = ava_annotations.split_box_files(data, split, annotation_dir)
    box_files[split] = [os.path.relpath(f.path, annotation_dir)
                        for f in files]
    keyframes[split] = ava_annotations.read_keyframes(
        files, score_threshold=data.detection_score_thresh, seconds=seconds)
    if not keyframes[split]:
      raise PrepareError(f"split {split}: no keyframes in {box_files[split]} "
                         f"within seconds {seconds}")
  return keyframes, box_files


def prepare_ava(config, *, annotation_dir: str, data_dir: str,
                video_dir: str | None = None, frame_dir: str | None = None,
                name: str | None = None, window: int = 0,
                short_side: int = -1, workers: int = 0,
                jpeg_quality: int = 90, overwrite: bool = False,
                splits=SPLITS) -> Summary:
  """Prepares (or finishes preparing) the AVA keyframes of `config.data`.

  Args:
    config: an AVA config (`data` and `model` sections).
    annotation_dir: folder of the box files, label map and exclusions.
    data_dir: the dataset goes to `data_dir/name/1.0.0`.
    video_dir, frame_dir: exactly one: the movies or the extracted frames.
    name: dataset name (default `config.data.name`).
    window: frames stored per keyframe (0: `num_frames * sampling_rate`).
    short_side: stored short side (-1: `train_jitter_scales[1]`, 0: keep).
    workers: worker processes (0: in this process).
    jpeg_quality: JPEG quality of the stored frames.
    overwrite: replace a dataset made with other settings.
    splits: splits to prepare.

  Raises:
    PrepareError, ava_annotations.AnnotationError: before anything is written.
  """
  data = config.data
  name = name or data.name
  if bool(video_dir) == bool(frame_dir):
    raise PrepareError("give exactly one of --video-dir and --frame-dir")
  source_dir = video_dir or frame_dir
  if not os.path.isdir(source_dir):
    raise PrepareError(f"{source_dir}: not a directory")
  window = window or config.model.num_frames * data.sampling_rate
  short_side = (int(data.train_jitter_scales[1]) if short_side < 0
                else short_side)
  if window < 1 or workers < 0 or not 1 <= jpeg_quality <= 100:
    raise PrepareError("bad --window, --workers or --jpeg-quality")
  seconds = tuple(int(s) for s in data.keyframe_seconds)
  keyframes, box_files = _read_keyframes(data, splits, annotation_dir,
                                         seconds)
  from slowfast_jax.data import ava_builder  # pylint: disable=g-import-not-at-top
  from slowfast_jax.data import builder  # pylint: disable=g-import-not-at-top
  first_index = int(data.frames_start_second) * ava_annotations.AVA_FPS
  settings = {
      "fps": float(ava_annotations.AVA_FPS), "short_side": short_side,
      "window": window, "seconds": list(seconds),
      "score_threshold": float(data.detection_score_thresh),
      "box_files": box_files, "source": "frames" if frame_dir else "movies",
      "frames_start_second": int(data.frames_start_second),
      "jpeg_quality": jpeg_quality}
  fingerprint = hashlib.sha256(json.dumps(
      [settings, {s: [dataclasses.astuple(k) for k in v]
                  for s, v in keyframes.items()}],
      sort_keys=True).encode()).hexdigest()
  directory = builder.version_dir(data_dir, name)
  prepare.claim_directory(directory, fingerprint, settings, overwrite)

  start = time.time()
  all_tasks = {split: _tasks(keyframes[split], split=split, name=name,
                             directory=directory, video_dir=video_dir,
                             frame_dir=frame_dir, first_index=first_index,
                             window=window, short_side=short_side,
                             jpeg_quality=jpeg_quality)
               for split in splits}
  todo = [(split, i, task) for split, tasks in all_tasks.items()
          for i, task in enumerate(tasks)
          if not os.path.exists(_state_path(directory, split, i))]
  for index, result in _run([t for _, _, t in todo], workers):
    split, shard, task = todo[index]
    for video_id, second, reason in result.skipped:
      print(f"skipped {split} {video_id} {second}: {reason}", file=sys.stderr)
    prepare.write_json(_state_path(directory, split, shard),
                        dataclasses.asdict(result))
  summary = _finish(ava_builder, directory, name, all_tasks, keyframes,
                    settings, time.time() - start)
  if os.path.exists(os.path.join(directory, "dataset_info.json")):
    _copy_evaluation_files(config, annotation_dir, directory)
  return summary


def _finish(ava_builder, directory, name, all_tasks, keyframes, settings,
            seconds) -> Summary:
  """Reads the shards' states, writes the report and the metadata."""
  lengths, num_bytes, source_bytes, skipped = {}, {}, {}, []
  max_boxes, frame_sizes, timestamps = {}, {}, {}
  for split, tasks in all_tasks.items():
    states = []
    for i in range(len(tasks)):
      with open(_state_path(directory, split, i)) as f:
        states.append(json.load(f))
    lengths[split] = [s["examples"] for s in states]
    num_bytes[split] = sum(s["bytes"] for s in states)
    source_bytes[split] = sum(s["source_bytes"] for s in states)
    skipped += [(split, *map(str, row)) for s in states for row in s["skipped"]]
    max_boxes[split] = max(s["max_boxes"] for s in states)
    frame_sizes[split] = [s["frame_sizes"] for s in states]
    timestamps[split] = [s["timestamps"] for s in states]
  report_path = os.path.join(directory, ava_builder.REPORT_NAME)
  with open(report_path, "w") as f:
    f.write("split\tvideo_id\ttimestamp\treason\n")
    for row in skipped:
      f.write("\t".join(x.replace("\t", " ") for x in row) + "\n")
  written = {split: sum(n) for split, n in lengths.items()}
  nonempty = {s: n for s, n in lengths.items() if written[s]}
  if nonempty and not os.path.exists(os.path.join(directory,
                                                  "dataset_info.json")):
    metadata = dict(settings, max_boxes={s: max_boxes[s] for s in nonempty},
                    frame_sizes={s: frame_sizes[s] for s in nonempty},
                    timestamps={s: timestamps[s] for s in nonempty})
    ava_builder.write_metadata(directory, name, nonempty,
                               {s: num_bytes[s] for s in nonempty}, metadata)
  return Summary(directory=directory,
                 keyframes={s: len(k) for s, k in keyframes.items()},
                 written=written, skipped=skipped, num_bytes=num_bytes,
                 source_bytes=source_bytes, seconds=seconds,
                 report_path=report_path)


def summary_lines(summary: Summary) -> list[str]:
  """What `main` prints: counts, sizes and bytes per keyframe."""
  lines = [f"Done in {summary.seconds:.1f} s. Dataset: {summary.directory}"]
  for split, total in summary.keyframes.items():
    written, size = summary.written[split], summary.num_bytes[split]
    skipped = sum(1 for s in summary.skipped if s[0] == split)
    per_clip = f"{size / written / 1e3:.1f} kB" if written else "-"
    lines.append(
        f"  {split}: {written} of {total} keyframes written, {skipped} "
        f"report rows; {size / 1e6:.2f} MB prepared from "
        f"{summary.source_bytes[split] / 1e6:.2f} MB of source read; "
        f"{per_clip} per keyframe (the record a clip reads)")
  if summary.skipped:
    lines.append(f"{len(summary.skipped)} skipped (movies or keyframes); "
                 f"reasons in {summary.report_path}")
  return lines


def _define_flags() -> None:
  """The command line's flags (defined only when run as a program)."""
  config_flags.DEFINE_config_file(
      "config", None, "AVA preset (configs/ava_*.py): box files, score "
      "threshold, seconds, clip span.", lock_config=True)
  flags.DEFINE_string("annotation-dir", None,
                      "Folder of the AVA CSVs and label map.", required=True)
  flags.DEFINE_string("video-dir", None, "Folder of the movies VIDEO_ID.*.")
  flags.DEFINE_string("frame-dir", None,
                      "Folder of extracted frames "
                      "VIDEO_ID/VIDEO_ID_NNNNNN.jpg.")
  flags.DEFINE_string("data-dir", None, "TFDS data dir.", required=True)
  flags.DEFINE_string("name", None, "Dataset name (default: config.data.name).")
  flags.DEFINE_integer("window", 0, "Frames stored per keyframe (0: the "
                       "config's num_frames * sampling_rate).")
  flags.DEFINE_integer("short-side", -1, "Stored short side (-1: the "
                       "config's largest training scale, 0: keep).")
  flags.DEFINE_integer("workers", os.cpu_count() or 1,
                       "Worker processes (0 = in the main process).")
  flags.DEFINE_integer("jpeg-quality", 90, "JPEG quality of the frames.")
  flags.DEFINE_bool("overwrite", False,
                    "Replace a dataset made with other annotations/settings.")
  flags.mark_flags_as_required(["config"])


def main(argv: list[str]) -> int:
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}", FATAL)
  value = lambda name: flags.FLAGS[name].value
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  try:
    summary = prepare_ava(
        value("config"), annotation_dir=value("annotation-dir"),
        data_dir=value("data-dir"), video_dir=value("video-dir"),
        frame_dir=value("frame-dir"), name=value("name"),
        window=value("window"), short_side=value("short-side"),
        workers=value("workers"), jpeg_quality=value("jpeg-quality"),
        overwrite=value("overwrite"))
  except (PrepareError, prepare.PrepareError,
          ava_annotations.AnnotationError) as e:
    print(f"error: {e}", file=sys.stderr)
    return FATAL
  print("\n".join(summary_lines(summary)))
  return summary.exit_code


if __name__ == "__main__":
  _define_flags()
  app.run(main)
