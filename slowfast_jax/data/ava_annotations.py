"""AVA box files -> keyframes with boxes and labels, as the release selects.

The release (`ava_helper.parse_bboxes_file`, `get_keyframe_data`) reads a
split's box files in order: training reads `AVA.TRAIN_GT_BOX_LISTS` (every
row) then `AVA.TRAIN_PREDICT_BOX_LISTS`; testing reads
`AVA.TEST_PREDICT_BOX_LISTS`. A row of a predicted-box file is kept only if
its 8th column (the score) is >= `AVA.DETECTION_SCORE_THRESH` (the ground
truth's 8th column is the person id, so a ground-truth file listed as a
predicted one keeps only the rows with person id >= the threshold). Rows of
a frame are merged by their box text (`x1,y1,x2,y2` exactly as written): one
box, the union of its rows' labels; an empty action id is a box without
labels (a negative). A keyframe is a `(video_id, second)` in the valid range
with at least one box.

Pure Python (no TensorFlow): used by `ava_prepare` and the synthetic set.
"""

import csv
import dataclasses
import os

# Frame rate of AVA's frames (release ava_helper.FPS): second s is frame
# s * AVA_FPS of the movie.
AVA_FPS = 30


class AnnotationError(ValueError):
  """A box file is unusable; the message names the file and line."""


@dataclasses.dataclass(frozen=True)
class Keyframe:
  """One annotated second of a movie.

  Attributes:
    video_id: the movie's id.
    timestamp: the second (AVA: 902-1798).
    boxes: `(x1, y1, x2, y2)` per box, normalised to [0, 1].
    labels: action ids per box (1-based, as in the files; empty: negative).
  """
  video_id: str
  timestamp: int
  boxes: tuple[tuple[float, float, float, float], ...]
  labels: tuple[tuple[int, ...], ...]


@dataclasses.dataclass(frozen=True)
class BoxFile:
  """A box file and how its rows are read.

  Attributes:
    path: the CSV.
    is_groundtruth: every row is kept (7 or more columns; the 8th is a person
      id). Otherwise the rows are predicted boxes: 8 columns, rows scoring
      below the threshold dropped.
    detector_rows: predicted boxes as a person detector writes them:
      `video_id, timestamp, x1, y1, x2, y2[, action_id[, score]]`; a row
      without a score is kept (`predict --boxes`).
  """
  path: str
  is_groundtruth: bool
  detector_rows: bool = False

  def row_format(self) -> tuple[int, str]:
    """The fewest columns a row needs, and the row format (for messages)."""
    if self.detector_rows:
      return 6, "video_id, timestamp, x1, y1, x2, y2[, action_id[, score]]"
    if self.is_groundtruth:
      return 7, "video_id, timestamp, x1, y1, x2, y2, action_id[, person_id]"
    return 8, "video_id, timestamp, x1, y1, x2, y2, action_id, score"


def split_box_files(data_config, split: str, annotation_dir: str
                    ) -> list[BoxFile]:
  """The box files the release reads for `split` ("train" or another)."""
  def files(names, is_groundtruth):
    return [BoxFile(os.path.join(annotation_dir, name), is_groundtruth)
            for name in names]
  if split == "train":
    return (files(data_config.train_gt_box_lists, True) +
            files(data_config.train_predict_box_lists, False))
  return files(data_config.test_predict_box_lists, False)


def read_keyframes(box_files, *, score_threshold: float,
                   seconds: tuple[int, int]) -> list[Keyframe]:
  """Keyframes of the boxes in `box_files`, sorted by (video, second).

  Args:
    box_files: `BoxFile`s, read in order (ground truth: every row kept).
    score_threshold: predicted rows with a lower 8th column are dropped.
    seconds: `(first, last)` valid seconds, inclusive (AVA: 902, 1798).

  Raises:
    AnnotationError: a missing file or a malformed row (file and line named).
  """
  frames = {}  # (video, sec) -> {box text: [box, labels]}
  for box_file in box_files:
    try:
      f = open(box_file.path, newline="")
    except OSError as e:
      raise AnnotationError(f"{box_file.path}: {e.strerror}") from e
    min_columns, row_format = box_file.row_format()
    with f:
      for line, row in enumerate(csv.reader(f), 1):
        try:
          if len(row) < min_columns:
            raise ValueError(f"{len(row)} columns")
          if (not box_file.is_groundtruth and len(row) > 7
              and float(row[7]) < score_threshold):
            continue
          key = (row[0], int(row[1]))
          box = tuple(float(v) for v in row[2:6])
          label = int(row[6]) if len(row) > 6 and row[6].strip() else -1
          if label == 0 or label < -1:
            raise ValueError(f"action id {label} (ids start at 1)")
        except ValueError as e:
          raise AnnotationError(
              f"{box_file.path}:{line}: expected {row_format}: {e}") from e
        entry = frames.setdefault(key, {}).setdefault(",".join(row[2:6]),
                                                      [box, []])
        entry[1].append(label)
  first, last = seconds
  keyframes = []
  for (video_id, sec), boxes in sorted(frames.items()):
    if not first <= sec <= last or not boxes:
      continue
    keyframes.append(Keyframe(
        video_id, sec, tuple(b for b, _ in boxes.values()),
        tuple(tuple(sorted(set(l for l in labels if l != -1)))
              for _, labels in boxes.values())))
  return keyframes


def by_video(keyframes) -> dict[str, list[Keyframe]]:
  """`{video_id: keyframes in time order}`, videos sorted."""
  out = {}
  for keyframe in keyframes:
    out.setdefault(keyframe.video_id, []).append(keyframe)
  return {v: sorted(k, key=lambda x: x.timestamp)
          for v, k in sorted(out.items())}
