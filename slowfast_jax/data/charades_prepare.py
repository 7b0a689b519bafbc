r"""Charades videos and annotations -> a prepared multi-label dataset.

  python -m slowfast_jax.data.charades_prepare \
      --annotation-dir /data/Charades --video-dir /data/Charades_v1_480 \
      --data-dir /data/tfds --workers 16

Reads, relative to `--annotation-dir` (the `Charades.zip` annotations):
`Charades_v1_classes.txt` (`c000 Holding some clothes`: class i is line i),
and one CSV per split, by default `train=Charades_v1_train.csv` and
`val=Charades_v1_test.csv` (the release's "val" frame list is Charades' test
set). Of each CSV row it uses `id` (the video is `--video-dir/ID.mp4`) and
`actions` (`c092 11.90 21.20;c147 0.00 12.60`: class, start and end seconds
per action; empty for a video without actions).

Videos are decoded as `slowfast_jax.data.prepare` decodes them (its worker
processes, shards and resume; bad or missing videos are skipped and listed
in `skipped_videos.tsv`), at 24 fps (the release's Charades frames) and short
side 340 (the largest training scale). Labels, as the release's frame lists
give them: stored frame k (0-based) shows an action when start < k / fps <
end (the Charades starter code's rule); a clip's labels are the classes of
the actions covering any frame from its first to its last, a video's those of
all its frames. Each example stores the video's classes (`labels`) and its
actions with the frames they cover (`builder.multi_label_features`).

Exit status as `prepare`'s: 0 if every video was written, else the number of
skipped videos (at most 254); 255 for an error that stops the job (a bad
annotation line, unusable arguments), 130 if interrupted.
"""

import csv
import functools
import re

import numpy as np

from slowfast_jax.data import prepare
from slowfast_jax.data import video_lists

CLASSES_FILE = "Charades_v1_classes.txt"
DEFAULT_SPLITS = {"train": "Charades_v1_train.csv",
                  "val": "Charades_v1_test.csv"}
FPS = 24.0  # The release's Charades frames (Charades_v1_rgb).
SHORT_SIDE = 340  # The Charades configs' largest training scale.
_CLASS_LINE = re.compile(r"^(c\d+)\s+(.+)$")


def read_classes(path) -> tuple[dict[str, int], list[str]]:
  """`({class id: index}, names)` of a `Charades_v1_classes.txt` file."""
  ids, names = {}, []
  try:
    with open(path, encoding="utf-8-sig") as f:
      lines = [line.strip() for line in f if line.strip()]
  except OSError as e:
    raise prepare.PrepareError(f"classes file: {e}") from e
  for number, line in enumerate(lines, start=1):
    match = _CLASS_LINE.match(line)
    if not match or match.group(1) in ids:
      raise prepare.PrepareError(
          f"{path}:{number}: expected a new `cNNN name` line, got {line!r}")
    ids[match.group(1)] = len(names)
    names.append(match.group(2).strip())
  if len(set(names)) != len(names):
    raise prepare.PrepareError(f"{path}: duplicate class names")
  return ids, names


def parse_actions(text: str, class_ids: dict[str, int],
                  where: str) -> list[tuple[int, float, float]]:
  """`"c092 11.90 21.20;c147 0.00 12.60"` -> `[(92, 11.9, 21.2), ...]`."""
  actions = []
  for item in filter(None, (a.strip() for a in text.split(";"))):
    fields = item.split()
    try:
      start, end = float(fields[1]), float(fields[2])
    except (IndexError, ValueError):
      fields = []
    if len(fields) != 3:
      raise prepare.PrepareError(
          f"{where}: action {item!r} is not `cNNN START END`")
    if fields[0] not in class_ids:
      raise prepare.PrepareError(f"{where}: unknown class {fields[0]!r}")
    actions.append((class_ids[fields[0]], start, end))
  return actions


def read_annotations(path, class_ids: dict[str, int],
                     video_ext: str = ".mp4") -> list[tuple[
                         video_lists.Entry, list[tuple[int, float, float]]]]:
  """One `(entry, actions)` per row of a `Charades_v1_*.csv` file.

  The entry's `video_id` is `ID` + `video_ext` (relative to the video dir),
  its label the row's raw `actions` text.
  """
  rows = []
  try:
    with open(path, encoding="utf-8-sig", newline="") as f:
      reader = csv.DictReader(f)
      missing = {"id", "actions"} - set(reader.fieldnames or ())
      if missing:
        raise prepare.PrepareError(
            f"{path}: no column {', '.join(sorted(missing))} (a Charades "
            "annotation CSV has `id` and `actions`)")
      for row in reader:
        where = f"{path}:{reader.line_num}"
        if not (row["id"] or "").strip():
          raise prepare.PrepareError(f"{where}: empty id")
        entry = video_lists.Entry(row["id"].strip() + video_ext,
                                  row["actions"] or "", where)
        rows.append((entry, parse_actions(row["actions"] or "", class_ids,
                                          where)))
  except OSError as e:
    raise prepare.PrepareError(f"annotations: {e}") from e
  if not rows:
    raise prepare.PrepareError(f"{path}: no videos")
  return rows


def frame_spans(actions, num_frames: int,
                fps: float) -> list[tuple[int, float, float, int, int]]:
  """`(class, start, end, first_frame, last_frame)` of each action covering
  a stored frame: frame k shows it when `start < k / fps < end`."""
  times = np.arange(num_frames) / float(fps)
  spans = []
  for label, start, end in actions:
    covered = np.flatnonzero((start < times) & (times < end))
    if len(covered):
      spans.append((label, start, end, int(covered[0]), int(covered[-1])))
  return spans


def _fields(video, result, *, fps: float) -> dict:
  """The multi-label example fields of a decoded video."""
  spans = frame_spans(video.label, len(result.jpegs), fps)
  column = lambda i, dtype: np.asarray([s[i] for s in spans], dtype)
  return {
      "labels": sorted({s[0] for s in spans}),
      "action_class": column(0, np.int64),
      "action_start": column(1, np.float32),
      "action_end": column(2, np.float32),
      "action_first_frame": column(3, np.int64),
      "action_last_frame": column(4, np.int64),
  }


def _features(class_names):
  from slowfast_jax.data import builder  # pylint: disable=g-import-not-at-top
  return builder.multi_label_features(class_names)


def example_format(fps: float) -> prepare.ExampleFormat:
  """Charades' examples: `builder.multi_label_features` at `fps`."""
  return prepare.ExampleFormat("multi_label", _features,
                               functools.partial(_fields, fps=float(fps)))


def prepare_charades(*, annotation_dir, video_dir, data_dir,
                     name: str = "charades", splits=None, classes_file=None,
                     video_ext: str = ".mp4", fps: float = FPS,
                     short_side: int = SHORT_SIDE, **kwargs
                     ) -> prepare.Summary:
  """Prepares (or finishes preparing) Charades as dataset `name`.

  Args:
    annotation_dir: folder of the classes file and the CSVs.
    video_dir: folder of the videos `ID` + `video_ext`.
    data_dir: the dataset goes to `data_dir/name/1.0.0`.
    name: dataset name (`config.data.name`).
    splits: `{split: CSV}` (relative to `annotation_dir` or absolute);
      default `DEFAULT_SPLITS`.
    classes_file: default `annotation_dir/Charades_v1_classes.txt`.
    video_ext: the videos' file extension.
    fps, short_side: stored frame rate and short side.
    **kwargs: `prepare.prepare_videos` arguments (`workers`, `jpeg_quality`,
      `videos_per_shard`, `overwrite`, `progress`, `process`).

  Raises:
    prepare.PrepareError: before anything is written.
  """
  class_ids, class_names = read_classes(
      prepare.annotation_file(annotation_dir, classes_file, CLASSES_FILE))
  resolved = prepare.annotation_splits(
      annotation_dir, splits or DEFAULT_SPLITS,
      lambda path: read_annotations(path, class_ids, video_ext))
  return prepare.prepare_videos(
      name=name, video_dir=video_dir, resolved=resolved,
      class_names=class_names, data_dir=data_dir, fps=fps,
      short_side=short_side, example_format=example_format(fps), **kwargs)


if __name__ == "__main__":
  prepare.run_annotation_command(
      prepare_charades, file_flag="classes", file_arg="classes_file",
      file_help=f"Classes file (default: --annotation-dir/{CLASSES_FILE}).",
      name="charades", video_ext=".mp4", default_splits=DEFAULT_SPLITS,
      fps=FPS, short_side=SHORT_SIDE)
