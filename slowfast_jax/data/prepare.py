r"""Raw videos -> a TFDS dataset of pre-decoded clips (JPEG frames).

  python -m slowfast_jax.data.prepare --name kinetics400 \
      --video-dir /data/k400 --split train=train.csv --split val=val.csv \
      --data-dir /data/tfds --fps 30 --short-side 320 --workers 16

`--split NAME=LIST` reads a list of `path label` lines (see `video_lists`);
`--split NAME=FOLDER` takes every video under FOLDER/CLASS/. Paths are
relative to `--video-dir`.

How it works: each split is cut into shards of `--videos-per-shard` videos (in
a fixed shuffled order, so a shard mixes classes). Worker processes decode
videos (PyAV), resample to `--fps`, resize the short side and encode JPEGs;
the main process writes a shard (its frames in chunks, `frame_store`, and its
examples) as soon as all its videos are back. A finished shard is never
redone: re-running the same command after an interruption continues with the
missing shards. Videos that cannot be decoded are skipped and listed, with
the reason, in `skipped_videos.tsv` next to the shards.

Many machines: `--num-parts N --part-index I` (I = 0 .. N-1, the same command
otherwise, one shared `--data-dir`) writes every N-th shard; the part that
finds all shards written completes the dataset.

Exit status: 0 if every video was written, else the number of skipped videos
(at most 254; the summary and report have the exact count); 255 for an error
that stops the job (bad list line, unusable arguments), 130 if interrupted.
"""

import collections
import concurrent.futures
import dataclasses
import hashlib
import json
import multiprocessing
import os
import random
import re
import shutil
import sys
import time
from typing import Any, Callable, Sequence

from absl import app
from absl import flags
import numpy as np
import tqdm

from slowfast_jax import class_names as class_names_lib
from slowfast_jax.data import prepare_worker
from slowfast_jax.data import video_lists

FATAL = 255
INTERRUPTED = 130
REPORT_NAME = "skipped_videos.tsv"
_STATE_DIR = ".prepare"
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class PrepareError(Exception):
  """An error that stops prepare before it writes anything."""


@dataclasses.dataclass(frozen=True)
class Video:
  split: str
  shard: int
  position: int
  entry: video_lists.Entry
  label: Any  # The class (int); other formats' own labels (ExampleFormat).
  path: str


@dataclasses.dataclass
class Summary:
  """What a prepare run produced."""
  directory: str
  written: dict[str, int]
  skipped: list[tuple[str, str, str, str]]  # split, origin, video_id, reason
  processed_now: int  # Videos decoded by this run (not by earlier ones).
  seconds: float
  report_path: str
  # Shards not written yet (by other parts, `num_parts`): then the dataset
  # is incomplete, `written` and `skipped` count the shards written so far
  # and there is no report yet.
  missing_shards: int = 0

  @property
  def exit_code(self) -> int:
    return min(len(self.skipped), 254)


def _parse_split_args(specs, video_dir):
  """`["train=a.csv", ...]` -> {split: entries} (lists or class folders)."""
  splits = {}
  for spec in specs:
    if "=" not in spec:
      raise PrepareError(f"--split {spec!r}: expected NAME=LIST or NAME=FOLDER")
    split, source = spec.split("=", 1)
    if not _NAME.match(split):
      raise PrepareError(f"--split {spec!r}: split name must be lowercase "
                         "letters, digits and _")
    if split in splits:
      raise PrepareError(f"--split {split} given twice")
    candidates = [source, os.path.join(video_dir, source)]
    found = next((c for c in candidates if os.path.exists(c)), None)
    if found is None:
      raise PrepareError(f"--split {spec!r}: no such list file or folder")
    if os.path.isdir(found):
      splits[split] = video_lists.scan_class_folders(found, video_dir)
    else:
      splits[split] = video_lists.read_list(found)
    if not splits[split]:
      raise PrepareError(f"--split {spec!r}: no videos")
  return splits


def _plan(resolved, video_dir, videos_per_shard):
  """Fixed assignment of videos to shards: {split: [[Video, ...], ...]}."""
  plan = {}
  for split, items in resolved.items():
    order = list(range(len(items)))
    random.Random(f"slowfast_jax/{split}").shuffle(order)  # Mix classes.
    shards = []
    for shard, begin in enumerate(range(0, len(order), videos_per_shard)):
      shard_videos = []
      for position, i in enumerate(order[begin:begin + videos_per_shard]):
        entry, label = items[i]
        shard_videos.append(Video(split, shard, position, entry, label,
                                  os.path.join(video_dir, entry.video_id)))
      shards.append(shard_videos)
    plan[split] = shards
  return plan


def _fingerprint(plan, class_names, settings) -> str:
  content = {
      "settings": settings,
      "classes": class_names,
      "splits": {split: [[[v.entry.video_id, v.label] for v in shard]
                         for shard in shards]
                 for split, shards in plan.items()},
  }
  return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def _state_path(directory, split, shard):
  return os.path.join(directory, _STATE_DIR, f"{split}-{shard:05d}.json")


def write_json(path, content):
  """Writes `content` as JSON to `path` atomically (temporary file, rename)."""
  tmp = f"{path}.tmp-{os.getpid()}"
  with open(tmp, "w") as f:
    json.dump(content, f)
  os.replace(tmp, path)


def _read_state(directory, split, shard):
  path = _state_path(directory, split, shard)
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return json.load(f)


class _Runner:
  """Decodes videos in worker processes, survives workers that crash."""

  def __init__(self, workers: int, process):
    self._workers = workers
    self._process = process
    self._executor = None

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self._shutdown()

  def _shutdown(self):
    if self._executor is not None:
      self._executor.shutdown(wait=False, cancel_futures=True)
      self._executor = None

  def _pool(self):
    if self._executor is None:
      self._executor = concurrent.futures.ProcessPoolExecutor(
          self._workers, mp_context=multiprocessing.get_context("spawn"))
    return self._executor

  def run(self, videos, settings):
    """Yields (video, Result) as they finish; order is not kept."""
    args = (settings["fps"], settings["short_side"], settings["jpeg_quality"])
    if self._workers == 0:  # In-process, for debugging.
      for video in videos:
        yield video, self._process(video.path, *args)
      return
    queue = collections.deque(videos)
    suspects = collections.deque()  # In flight when a worker died.
    in_flight = {}
    window = 2 * self._workers  # Bounds memory held in finished results.
    while queue or suspects or in_flight:
      if suspects:
        # Retry alone, so a video that kills the worker again is identified.
        if not in_flight:
          video = suspects.popleft()
          in_flight[self._pool().submit(self._process, video.path, *args)] = (
              video, True)
      else:
        while queue and len(in_flight) < window:
          video = queue.popleft()
          in_flight[self._pool().submit(self._process, video.path, *args)] = (
              video, False)
      done, _ = concurrent.futures.wait(
          in_flight, return_when=concurrent.futures.FIRST_COMPLETED)
      broken = False
      for future in done:
        video, alone = in_flight.pop(future)
        try:
          yield video, future.result()
        except concurrent.futures.process.BrokenProcessPool:
          broken = True
          if alone:
            yield video, prepare_worker.Result(
                error="the decoder crashed (worker process died)")
          else:
            suspects.append(video)
      if broken:
        suspects.extend(video for video, _ in in_flight.values())
        in_flight.clear()
        self._shutdown()


def _check_arguments(name, video_dir, videos_per_shard, workers,
                     jpeg_quality) -> None:
  """Raises `PrepareError` naming the first bad argument."""
  if not _NAME.match(name):
    raise PrepareError(f"--name {name!r}: use lowercase letters, digits, _")
  if not os.path.isdir(video_dir):
    raise PrepareError(f"--video-dir {video_dir}: not a directory")
  if videos_per_shard < 1 or workers < 0 or not 1 <= jpeg_quality <= 100:
    raise PrepareError("bad --videos-per-shard, --workers or --jpeg-quality")


def claim_directory(directory: str, fingerprint: str, settings: dict,
                    overwrite: bool, own_files=None) -> None:
  """Makes `directory` this run's: a run with the same fingerprint resumes,
  anything else is replaced only with `overwrite`; temporary files of an
  interrupted write are removed (with `own_files`, only those of these
  files: other parts may be writing theirs)."""
  plan_file = os.path.join(directory, _STATE_DIR, "plan.json")
  if os.path.exists(plan_file):
    with open(plan_file) as f:
      previous = json.load(f)["fingerprint"]
    if previous != fingerprint:
      if not overwrite:
        raise PrepareError(
            f"{directory} holds a dataset (or a partial run) made from other "
            "lists or settings; pass --overwrite to replace it")
      shutil.rmtree(directory)
  elif os.path.exists(directory) and set(os.listdir(directory)) - {
      _STATE_DIR}:  # (Another part may have just made the folder.)
    if not overwrite:
      raise PrepareError(f"{directory} exists and was not made by prepare; "
                         "pass --overwrite to replace it")
    shutil.rmtree(directory)
  os.makedirs(os.path.join(directory, _STATE_DIR), exist_ok=True)
  write_json(plan_file, {"fingerprint": fingerprint, "settings": settings})
  for file in os.listdir(directory):  # Leftovers of an interrupted write.
    path = os.path.join(directory, file)
    if ".tmp-" in file and (own_files is None or
                            path.split(".tmp-")[0] in own_files):
      os.remove(path)


@dataclasses.dataclass(frozen=True)
class ExampleFormat:
  """What an example holds besides its frames' place and `video_id`.

  Attributes:
    name: recorded in the settings, so a run of another format never resumes
      (or mixes with) this one's shards.
    features: `class_names -> tfds.features.FeaturesDict` of the whole
      example (imports TensorFlow when called, never at import).
    fields: `(Video, prepare_worker.Result) -> dict` of the example's other
      fields.
  """
  name: str
  features: Callable[[Sequence[str]], Any]
  fields: Callable[[Video, prepare_worker.Result], dict]


def _classification_features(class_names):
  from slowfast_jax.data import builder  # pylint: disable=g-import-not-at-top
  return builder.features(class_names)


# One class per video (`Video.label` an int): the Kinetics layout.
CLASSIFICATION = ExampleFormat(
    "classification", _classification_features,
    lambda video, result: {"label": video.label})


def prepare(*, name: str, video_dir, splits: dict[str, str], data_dir,
            fps: float = 30.0, short_side: int = 320, workers: int = 0,
            jpeg_quality: int = 90, videos_per_shard: int = 32,
            classes_file=None, overwrite: bool = False,
            progress: bool = True, num_parts: int = 1, part_index: int = 0,
            process=prepare_worker.process_video) -> Summary:
  """Prepares (or finishes preparing) dataset `name` in `data_dir`.

  Args:
    name: dataset name (lowercase, digits, _).
    video_dir: root the list paths are relative to.
    splits: {split: list file or class folder}.
    data_dir: TFDS data dir; the dataset goes to `data_dir/name/1.0.0`.
    fps: frame rate frames are stored at.
    short_side: short side frames are stored at (0 keeps the size).
    workers: decoding processes (0 = in this process).
    jpeg_quality: JPEG quality of the stored frames.
    videos_per_shard: videos per TFRecord shard.
    classes_file: optional class-name file (line i = label i).
    overwrite: delete an existing dataset or partial run with other settings.
    progress: show a progress bar.
    num_parts, part_index: this run writes only the shards of part
      `part_index` of `num_parts` (every `num_parts`-th shard), e.g. one part
      per machine into a shared `data_dir`; the run that finds every shard
      written completes the dataset.
    process: the per-video function (tests replace it).

  Raises:
    PrepareError, video_lists.ListError: before anything is written.
  """
  _check_arguments(name, video_dir, videos_per_shard, workers, jpeg_quality)
  class_names = None
  if classes_file:
    try:
      class_names = class_names_lib.read_labels_file(classes_file)
    except (OSError, ValueError) as e:
      raise PrepareError(f"--classes: {e}") from e
  entries = _parse_split_args([f"{k}={v}" for k, v in splits.items()],
                              video_dir)
  class_names, resolved = video_lists.resolve_labels(entries, class_names)
  return prepare_videos(
      name=name, video_dir=video_dir, resolved=resolved,
      class_names=class_names, data_dir=data_dir, fps=fps,
      short_side=short_side, workers=workers, jpeg_quality=jpeg_quality,
      videos_per_shard=videos_per_shard, overwrite=overwrite,
      progress=progress, num_parts=num_parts, part_index=part_index,
      process=process)


def prepare_videos(*, name: str, video_dir, resolved, class_names, data_dir,
                   fps: float = 30.0, short_side: int = 320, workers: int = 0,
                   jpeg_quality: int = 90, videos_per_shard: int = 32,
                   overwrite: bool = False, progress: bool = True,
                   num_parts: int = 1, part_index: int = 0,
                   process=prepare_worker.process_video,
                   example_format: ExampleFormat = CLASSIFICATION) -> Summary:
  """Decodes and writes `resolved` videos (resuming a run with the same
  plan); `prepare`'s second half, shared with other dataset formats.

  Args:
    resolved: `{split: [(video_lists.Entry, label), ...]}`; the label is
      whatever `example_format.fields` reads from `Video.label` (JSON
      serializable: it is part of the run's fingerprint).
    example_format: the example's features (default: one class per video).
    Others: as `prepare`.
  """
  _check_arguments(name, video_dir, videos_per_shard, workers, jpeg_quality)
  _check_part(num_parts, part_index)
  plan = _plan(resolved, video_dir, videos_per_shard)
  # TensorFlow only now (fast failure above; workers never import it).
  # pylint: disable=g-import-not-at-top
  from slowfast_jax.data import builder
  from slowfast_jax.data import frame_store
  # pylint: enable=g-import-not-at-top
  settings = {"fps": float(fps), "short_side": int(short_side or 0),
              "jpeg_quality": int(jpeg_quality), "version": builder.VERSION,
              "chunk_frames": frame_store.CHUNK_FRAMES}
  if example_format is not CLASSIFICATION:
    settings["format"] = example_format.name
  fingerprint = _fingerprint(plan, class_names, settings)

  directory = builder.version_dir(data_dir, name)
  if overwrite and builder.layout_problem(directory):
    shutil.rmtree(directory)  # Same settings, but an earlier layout.
  mine = _part_shards(plan, num_parts, part_index)
  claim_directory(directory, fingerprint, settings, overwrite,
                  own_files=None if num_parts == 1 else _part_files(
                      builder, directory, name, plan, mine))

  todo = [plan[split][shard] for split, shard in mine
          if _read_state(directory, split, shard) is None]
  total = sum(len(plan[split][shard]) for split, shard in mine)
  remaining = sum(len(s) for s in todo)
  start = time.time()
  if remaining == 0:
    print(f"All {total} videos already prepared.", file=sys.stderr)
  elif remaining < total:
    print(f"Resuming: {total - remaining} of {total} videos already done.",
          file=sys.stderr)

  writer = _ShardWriter(builder, directory, name, plan, example_format,
                        example_format.features(class_names))
  results = {}  # (split, shard) -> {position: Result}
  shard_sizes = {(s[0].split, s[0].shard): len(s) for s in todo}
  bar = tqdm.tqdm(total=total, initial=total - remaining, unit="video",
                  desc=f"prepare {name}", disable=not progress,
                  dynamic_ncols=True)
  with bar, _Runner(workers, process) as runner:
    videos = [v for shard in todo for v in shard]
    for video, result in runner.run(videos, settings):
      key = (video.split, video.shard)
      results.setdefault(key, {})[video.position] = (video, result)
      bar.update(1)
      if result.error:
        bar.write(f"skipped {video.entry.video_id} ({video.entry.origin}): "
                  f"{result.error}")
      if len(results[key]) == shard_sizes[key]:
        writer.write(key, results.pop(key))

  return _finish(builder, directory, name, class_names, plan, settings,
                 example_format, processed_now=remaining,
                 seconds=time.time() - start)


def _check_part(num_parts: int, part_index: int) -> None:
  if num_parts < 1 or not 0 <= part_index < num_parts:
    raise PrepareError(f"--part-index {part_index} of --num-parts "
                       f"{num_parts}: expected 0 <= index < parts")


def _part_shards(plan, num_parts: int, part_index: int):
  """`[(split, shard), ...]` of part `part_index`: every `num_parts`-th
  shard of the plan, counting over all splits."""
  keys = [(split, shard) for split, shards in plan.items()
          for shard in range(len(shards))]
  return keys[part_index::num_parts]


def _part_files(builder, directory, name, plan, keys) -> set[str]:
  """The data files the shards `keys` write (a part's own files)."""
  examples = {split: builder.shard_paths(directory, name, split, len(shards))
              for split, shards in plan.items()}
  files = set()
  for split, shard in keys:
    files.add(examples[split][shard])
    files.add(os.path.join(directory, _frames_file(split, shard, plan)))
  return files


def _frames_file(split, shard, plan) -> str:
  from slowfast_jax.data import frame_store  # pylint: disable=g-import-not-at-top
  return frame_store.file_name(split, shard, len(plan[split]))


@dataclasses.dataclass
class _ShardWriter:
  """Writes a finished shard's examples and its state file."""
  builder: Any
  directory: str
  name: str
  plan: dict
  example_format: ExampleFormat
  feature_spec: Any

  def write(self, key, done) -> None:
    """Writes the shard's frames file, then its examples, then its state."""
    from slowfast_jax.data import frame_store  # pylint: disable=g-import-not-at-top
    split, shard = key
    videos, skipped = [], []
    for position in sorted(done):
      video, result = done[position]
      if result.error:
        skipped.append([video.entry.origin, video.entry.video_id,
                        result.error])
      else:
        videos.append((video, result))
    frames_file = _frames_file(split, shard, self.plan)
    offsets, frame_bytes = frame_store.write_file(
        os.path.join(self.directory, frames_file),
        [result.jpegs for _, result in videos], frame_store.CHUNK_FRAMES)
    records = [
        self.feature_spec.serialize_example({
            "num_frames": len(result.jpegs), "frames_file": frames_file,
            "chunk_offsets": np.asarray(video_offsets, np.int64),
            "video_id": video.entry.video_id,
            **self.example_format.fields(video, result)})
        for (video, result), video_offsets in zip(videos, offsets)]
    path = self.builder.shard_paths(self.directory, self.name, split,
                                    len(self.plan[split]))[shard]
    num_bytes = self.builder.write_records(path, records)
    write_json(_state_path(self.directory, split, shard),
               {"examples": len(records), "bytes": num_bytes + frame_bytes,
                "skipped": skipped})


def _finish(builder, directory, name, class_names, plan, settings,
            example_format, *, processed_now, seconds) -> Summary:
  """The run's summary (of the shards written so far); once every shard (of
  every part) is written, the report and the dataset's metadata too."""
  written, lengths, num_bytes, skipped, missing = {}, {}, {}, [], 0
  for split, shards in plan.items():
    states = [_read_state(directory, split, i) for i in range(len(shards))]
    missing += sum(s is None for s in states)
    states = [s for s in states if s is not None]
    lengths[split] = [s["examples"] for s in states]
    num_bytes[split] = sum(s["bytes"] for s in states)
    written[split] = sum(lengths[split])
    skipped += [(split, *row) for s in states for row in s["skipped"]]
  if missing:
    return Summary(directory=directory, written=written, skipped=skipped,
                   processed_now=processed_now, seconds=seconds,
                   report_path="", missing_shards=missing)
  report_path = os.path.join(directory, REPORT_NAME)
  with open(report_path, "w") as f:
    f.write("split\tlist_line\tvideo_id\treason\n")
    for row in skipped:
      f.write("\t".join(str(x).replace("\t", " ") for x in row) + "\n")
  nonempty = {s: n for s, n in lengths.items() if written[s]}
  if not builder.is_complete(directory) and nonempty:
    builder.write_metadata(
        directory, name, class_names, nonempty,
        {s: num_bytes[s] for s in nonempty}, fps=settings["fps"],
        short_side=settings["short_side"],
        description=(f"Videos pre-decoded by slowfast_jax.data.prepare: JPEG "
                     f"frames at {settings['fps']:g} fps, short side "
                     f"{settings['short_side'] or 'as source'}."),
        feature_spec=example_format.features(class_names),
        chunk_frames=settings["chunk_frames"])
  return Summary(directory=directory, written=written, skipped=skipped,
                 processed_now=processed_now, seconds=seconds,
                 report_path=report_path)


def print_summary(summary: Summary) -> None:
  per_split = ", ".join(
      f"{split}: {n} written, "
      f"{sum(1 for s in summary.skipped if s[0] == split)} skipped"
      for split, n in summary.written.items())
  rate = summary.processed_now / max(summary.seconds, 1e-9)
  from slowfast_jax.data import builder  # pylint: disable=g-import-not-at-top
  size = builder.data_bytes(summary.directory)
  print(f"Done in {summary.seconds:.1f} s ({summary.processed_now} videos "
        f"decoded by this run, {rate:.1f} videos/s). {per_split}.")
  if summary.missing_shards:
    print(f"This part is written; {summary.missing_shards} shards of other "
          "parts are not yet. The last part to finish completes the dataset "
          f"({len(summary.skipped)} videos skipped so far; the last part "
          f"writes their reasons to {REPORT_NAME}).")
    return
  print(f"Dataset: {summary.directory} ({size / 1e6:.1f} MB)")
  for split, n in summary.written.items():
    if n == 0:
      print(f"WARNING: split {split} has no decodable videos; not written.")
  if summary.skipped:
    noun = "video" if len(summary.skipped) == 1 else "videos"
    print(f"{len(summary.skipped)} {noun} skipped; reasons in "
          f"{summary.report_path}")


def define_common_flags(*, fps: float, short_side: int) -> None:
  """The flags every video prepare command shares (with these defaults)."""
  flags.DEFINE_string("data-dir", None, "TFDS data dir.", required=True)
  flags.DEFINE_float("fps", fps, "Stored frame rate.")
  flags.DEFINE_integer("short-side", short_side,
                       "Stored short side (0 = keep the source size).")
  flags.DEFINE_integer("workers", os.cpu_count() or 1,
                       "Decoding processes (0 = in the main process).")
  flags.DEFINE_integer("jpeg-quality", 90, "JPEG quality of the frames.")
  flags.DEFINE_integer("videos-per-shard", 32, "Videos per shard.")
  flags.DEFINE_integer("num-parts", 1,
                       "Split the job into this many parts (e.g. machines "
                       "writing to one shared --data-dir).")
  flags.DEFINE_integer("part-index", 0,
                       "The part this run writes (0 .. --num-parts - 1).")
  flags.DEFINE_bool("overwrite", False,
                    "Replace a dataset made with other lists/settings.")
  flags.DEFINE_bool("no-progress", False, "No progress bar.")


def common_flag_values() -> dict[str, Any]:
  """`define_common_flags`' values as `prepare_videos` arguments."""
  value = lambda name: flags.FLAGS[name].value
  return dict(data_dir=value("data-dir"), fps=value("fps"),
              short_side=value("short-side"), workers=value("workers"),
              jpeg_quality=value("jpeg-quality"),
              videos_per_shard=value("videos-per-shard"),
              num_parts=value("num-parts"), part_index=value("part-index"),
              overwrite=value("overwrite"),
              progress=not value("no-progress"))


def _define_flags() -> None:
  """The command line's flags (defined only when run as a program)."""
  flags.DEFINE_string("name", None, "Dataset name.", required=True)
  flags.DEFINE_string("video-dir", None,
                      "Folder the list paths are relative to.", required=True)
  flags.DEFINE_multi_string(
      "split", None, "SPLIT=LIST|FOLDER: a split from a `path label` list or "
      "a folder of class sub-folders; repeat per split.", required=True)
  flags.DEFINE_string("classes", None,
                      "Class names file, one per line (line i = label i); "
                      "default: from the lists.")
  define_common_flags(fps=30.0, short_side=320)


def define_annotation_flags(*, name: str, video_ext: str,
                            default_splits: dict[str, str], fps: float,
                            short_side: int) -> None:
  """The flags of a command that reads a dataset's own annotation files
  (`--annotation-dir`, `--video-dir`, `--name`, `--split`, `--video-ext`),
  and the common ones."""
  flags.DEFINE_string("annotation-dir", None,
                      "Folder of the annotation files.", required=True)
  flags.DEFINE_string("video-dir", None, f"Folder of the videos ID{video_ext}.",
                      required=True)
  flags.DEFINE_string("name", name, "Dataset name.")
  defaults = ", ".join(f"{k}={v}" for k, v in default_splits.items())
  flags.DEFINE_multi_string(
      "split", None, "SPLIT=FILE, relative to --annotation-dir; repeat per "
      f"split (default: {defaults}).")
  flags.DEFINE_string("video-ext", video_ext, "The videos' file extension.")
  define_common_flags(fps=fps, short_side=short_side)


def annotation_flag_values() -> dict[str, Any]:
  """`define_annotation_flags`' values as arguments (`splits` None when no
  `--split` is given)."""
  value = lambda name: flags.FLAGS[name].value
  return dict(annotation_dir=value("annotation-dir"),
              video_dir=value("video-dir"), name=value("name"),
              splits=split_flag(value("split")) if value("split") else None,
              video_ext=value("video-ext"), **common_flag_values())


def run_annotation_command(prepare_dataset: Callable[..., Summary], *,
                           file_flag: str, file_help: str, file_arg: str,
                           **flag_defaults) -> None:
  """The program of a dataset's prepare command: `define_annotation_flags`
  (`flag_defaults`) plus one optional file flag, passed to
  `prepare_dataset` as `file_arg`; exits with `run_main`'s status."""
  define_annotation_flags(**flag_defaults)
  flags.DEFINE_string(file_flag, None, file_help)
  app.run(lambda argv: run_main(argv, lambda: prepare_dataset(
      **{file_arg: flags.FLAGS[file_flag].value},
      **annotation_flag_values())), flags_parser=parse_flags)


def annotation_file(annotation_dir, path, default_name: str) -> str:
  """`path`, or if None `annotation_dir/default_name`.

  Raises:
    PrepareError: `annotation_dir` is not a directory.
  """
  if not os.path.isdir(annotation_dir):
    raise PrepareError(f"--annotation-dir {annotation_dir}: not a directory")
  return path or os.path.join(annotation_dir, default_name)


def annotation_splits(annotation_dir, splits: dict[str, str],
                      read: Callable[[str], Any]) -> dict[str, Any]:
  """`{split: read(path)}` of the split files `splits` names, relative to
  `annotation_dir` (or absolute).

  Raises:
    PrepareError: a split name is not lowercase letters, digits and _.
  """
  resolved = {}
  for split, file in splits.items():
    if not _NAME.match(split):
      raise PrepareError(f"--split {split!r}: use lowercase letters, digits "
                         "and _")
    resolved[split] = read(os.path.join(annotation_dir, file))
  return resolved


def split_flag(specs: list[str]) -> dict[str, str]:
  """`--split NAME=SOURCE` values as `{NAME: SOURCE}` (usage error if a
  split is given twice)."""
  splits = {}
  for spec in specs:
    key = spec.split("=", 1)[0]
    if key in splits:
      raise app.UsageError(f"--split {key} given twice", FATAL)
    splits[key] = spec.split("=", 1)[1] if "=" in spec else ""
  return splits


def parse_flags(argv: list[str]) -> list[str]:
  """absl's flag parsing; unusable flags exit with `FATAL`."""
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    print(f"FATAL Flags parsing error: {e}\nPass --helpfull to see help on "
          "flags.", file=sys.stderr)
    sys.exit(FATAL)


def run_main(argv: list[str], run: Callable[[], Summary]) -> int:
  """A prepare command's `main`: runs `run()`, prints its summary; returns
  the exit status (`FATAL` for `PrepareError` and `ListError`)."""
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}", FATAL)
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  try:
    summary = run()
  except (PrepareError, video_lists.ListError) as e:
    print(f"error: {e}", file=sys.stderr)
    return FATAL
  except KeyboardInterrupt:
    print("\nInterrupted. Finished shards are kept: run the same command "
          "again to continue.", file=sys.stderr)
    return INTERRUPTED
  print_summary(summary)
  return summary.exit_code


def main(argv: list[str]) -> int:
  value = lambda name: flags.FLAGS[name].value
  return run_main(argv, lambda: prepare(
      name=value("name"), video_dir=value("video-dir"),
      splits=split_flag(value("split")), classes_file=value("classes"),
      **common_flag_values()))


if __name__ == "__main__":
  _define_flags()
  app.run(main, flags_parser=parse_flags)
