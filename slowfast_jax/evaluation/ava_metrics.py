"""AVA frame-level mAP at IoU 0.5, the protocol of the release's evaluator.

The release (`slowfast/utils/ava_eval_helper.run_evaluation` with its
`ava_evaluation` package, PASCAL VOC-style) evaluates like this:

* Rows whose action id is not in the label map are dropped when read, and
  frames (`video_id,timestamp` keys) in the excluded-timestamps list are
  dropped from the ground truth and the detections.
* Each frame is matched on its own, class by class. A detection box with
  `x2 <= x1` or `y2 <= y1` is removed. Detections are taken in their input
  order within the frame (not sorted by score, no NMS, no per-frame top-k):
  each one is compared with the frame's ground-truth boxes of its class; the
  best-IoU box (first one on ties) makes it a true positive if IoU >= 0.5 and
  no earlier detection took that box, otherwise it is a false positive (it
  does not fall back to the second-best box). Detections in frames with no
  ground truth are false positives. AVA has no difficult or group-of boxes.
* Per class, the frames' results are concatenated in the order in which the
  frames first appear in the detections and sorted by decreasing score with
  `np.argsort(scores)[::-1]` (so tied scores keep numpy's order, reversed).
  AP is the VOC area under the interpolated precision/recall curve: the
  precision made non-increasing from the right, summed over the recall
  steps. A class with ground truth but no detection has AP 0.
* A class with no ground-truth box has no AP (None); the mean is over the
  classes with ground truth.

Boxes are `x1, y1, x2, y2` normalised to [0, 1] by the frame's width and
height, as in the AVA CSVs (IoU does not depend on the scale, but the CSV
writer keeps 3 decimals).
"""

import csv
from typing import Iterable, NamedTuple

import numpy as np

MEAN_AP_NAME = "PascalBoxes_Precision/mAP@{}IOU"
CLASS_AP_NAME = "PascalBoxes_PerformanceByCategory/AP@{}IOU/{}"


class BoxTable(NamedTuple):
  """Rows of an AVA CSV: one (frame, box, action) each.

  Attributes:
    keys: `(rows,)` str frame keys `video_id,%04d` (see `frame_key`).
    boxes: `(rows, 4)` float64 `x1, y1, x2, y2`, normalised.
    labels: `(rows,)` int64 action ids (1-based, as the label map).
    scores: `(rows,)` float64; 1 for ground truth.
  """
  keys: np.ndarray
  boxes: np.ndarray
  labels: np.ndarray
  scores: np.ndarray

  def select(self, rows: np.ndarray) -> "BoxTable":
    return BoxTable(*(a[rows] for a in self))


def frame_key(video_id: str, timestamp) -> str:
  """The release's frame key: `video_id,` and the second as 4 digits."""
  return "%s,%04d" % (video_id, int(timestamp))


def box_table(keys: Iterable[str], boxes, labels, scores=None) -> BoxTable:
  """A `BoxTable` from row-aligned sequences (scores default to 1)."""
  keys = np.asarray(list(keys), dtype=str)
  boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
  labels = np.asarray(labels, np.int64).reshape(-1)
  scores = (np.ones(len(labels)) if scores is None
            else np.asarray(scores, np.float64).reshape(-1))
  if not len(keys) == len(boxes) == len(labels) == len(scores):
    raise ValueError(f"Row counts differ: {len(keys)} keys, {len(boxes)} "
                     f"boxes, {len(labels)} labels, {len(scores)} scores.")
  return BoxTable(keys, boxes, labels, scores)


# ---------------------------------------------------------------------------
# Files.


def read_label_map(path) -> dict[int, str]:
  """`{action_id: name}` of a label map `.pbtxt` (`name:` and `id:` or
  `label_id:` per `item`), in file order."""
  with open(path) as f:
    return parse_label_map(f, path)


def parse_label_map(lines: Iterable[str], path) -> dict[int, str]:
  """`read_label_map` of the lines of the file `path` (named in errors)."""
  label_map, name = {}, None
  for line in lines:
    field, _, value = line.strip().partition(":")
    if field == "name":
      name = value.strip().strip('"')
    elif field in ("id", "label_id"):
      if name is None:
        raise ValueError(f"{path}: `{line.strip()}` has no `name` before it.")
      label_map[int(value)] = name
  if not label_map:
    raise ValueError(f"{path}: no `item` with a name and an id.")
  return label_map


def read_boxes(path, *, with_scores: bool,
               class_ids: Iterable[int] | None = None) -> BoxTable:
  """An AVA CSV `video_id, timestamp, x1, y1, x2, y2, action_id[, x]`.

  `x` is the score when `with_scores` (detections), else ignored (the
  person id of the ground truth; scores are then 1). Rows whose action is
  not in `class_ids` are dropped, as the release.
  """
  keep = None if class_ids is None else set(class_ids)
  keys, boxes, labels, scores = [], [], [], []
  with open(path, newline="") as f:
    for line, row in enumerate(csv.reader(f), 1):
      if len(row) not in (7, 8) or (with_scores and len(row) != 8):
        raise ValueError(f"{path}:{line}: {len(row)} columns; expected "
                         f"{'8' if with_scores else '7 or 8'}.")
      label = int(row[6])
      if keep is not None and label not in keep:
        continue
      keys.append(frame_key(row[0], row[1]))
      boxes.append([float(v) for v in row[2:6]])
      labels.append(label)
      scores.append(float(row[7]) if with_scores else 1.0)
  return box_table(keys, boxes, labels, scores)


def read_excluded(path) -> set[str]:
  """Frame keys of an excluded-timestamps CSV (`video_id, timestamp`)."""
  excluded = set()
  with open(path, newline="") as f:
    for line, row in enumerate(csv.reader(f), 1):
      if len(row) != 2:
        raise ValueError(f"{path}:{line}: {len(row)} columns; expected 2.")
      excluded.add(frame_key(*row))
  return excluded


def write_boxes(path, table: BoxTable) -> None:
  """Writes `table` as an AVA detections CSV, in the release's number format
  (`%.03f` boxes, `%.04f` scores)."""
  with open(path, "w") as f:
    for key, box, label, score in zip(*table):
      f.write("%s,%.03f,%.03f,%.03f,%.03f,%d,%.04f\n"
              % (key, *box, label, score))


def detections_from_scores(keys: Iterable[str], boxes, scores,
                           class_ids: Iterable[int]) -> BoxTable:
  """Per-box class scores → one detection row per (box, label-map class).

  Column `i` of `scores` is action id `i + 1` (the release's convention);
  columns of ids not in `class_ids` are skipped.

  Args:
    keys: `(boxes,)` frame keys.
    boxes: `(boxes, 4)` `x1, y1, x2, y2`, normalised.
    scores: `(boxes, classes)`, e.g. the sigmoid outputs.
    class_ids: the label map's action ids.
  """
  keys = np.asarray(list(keys), dtype=str)
  scores = np.asarray(scores, np.float64)
  ids = np.array(sorted(i for i in set(class_ids) if i <= scores.shape[1]),
                 np.int64)
  rows = np.repeat(np.arange(len(keys)), len(ids))
  return box_table(keys[rows], np.asarray(boxes)[rows],
                   np.tile(ids, len(keys)), scores[:, ids - 1].reshape(-1))


# ---------------------------------------------------------------------------
# Evaluation.


def _by_frame(table: BoxTable) -> tuple[BoxTable, list[str], np.ndarray]:
  """Rows grouped by frame (frames in first-appearance order, rows in order).

  Returns the reordered table, the frame keys, and each frame's first row
  (`(frames + 1,)` offsets).
  """
  frames, first, codes = np.unique(table.keys, return_index=True,
                                   return_inverse=True)
  rank = np.empty(len(frames), np.int64)
  rank[np.argsort(first)] = np.arange(len(frames))
  order = np.argsort(rank[codes], kind="stable")
  counts = np.bincount(rank[codes], minlength=len(frames))
  offsets = np.concatenate([[0], np.cumsum(counts)])
  return table.select(order), list(frames[np.argsort(first)]), offsets


def _iou(boxes1: np.ndarray, boxes2: np.ndarray) -> np.ndarray:
  """`(n, m)` intersection over union of `x1, y1, x2, y2` boxes."""
  widths = np.maximum(0.0, np.minimum(boxes1[:, None, 2], boxes2[None, :, 2])
                      - np.maximum(boxes1[:, None, 0], boxes2[None, :, 0]))
  heights = np.maximum(0.0, np.minimum(boxes1[:, None, 3], boxes2[None, :, 3])
                       - np.maximum(boxes1[:, None, 1], boxes2[None, :, 1]))
  intersection = heights * widths
  area1 = (boxes1[:, 3] - boxes1[:, 1]) * (boxes1[:, 2] - boxes1[:, 0])
  area2 = (boxes2[:, 3] - boxes2[:, 1]) * (boxes2[:, 2] - boxes2[:, 0])
  with np.errstate(invalid="ignore", divide="ignore"):
    return intersection / (area1[:, None] + area2[None, :] - intersection)


def _true_positives(detections: BoxTable, groundtruth: BoxTable,
                    iou_threshold: float) -> np.ndarray:
  """`(rows,)` bool: which detection rows match a ground-truth box.

  Both tables hold one frame. A detection takes the best-IoU ground-truth
  box of its class (the first on ties); it is a true positive if the IoU
  reaches the threshold and no earlier detection took that box.
  """
  same_class = detections.labels[:, None] == groundtruth.labels[None, :]
  if not same_class.any():
    return np.zeros(len(detections.labels), bool)
  iou = np.where(same_class, _iou(detections.boxes, groundtruth.boxes),
                 -np.inf)
  best = np.argmax(iou, axis=1)
  best_iou = np.take_along_axis(iou, best[:, None], axis=1)[:, 0]
  matched = best_iou >= iou_threshold
  tp = np.zeros(len(best), bool)
  rows = np.flatnonzero(matched)
  _, first = np.unique(best[rows], return_index=True)
  tp[rows[first]] = True
  return tp


def voc_average_precision(scores: np.ndarray, true_positive: np.ndarray,
                          num_groundtruth: int) -> float:
  """Area under the interpolated precision/recall curve (VOC devkit).

  Detections are ranked by `np.argsort(scores)[::-1]`, as the release.
  NaN without ground truth; 0 with ground truth but no detection.
  """
  if num_groundtruth == 0:
    return float("nan")
  if not len(scores):
    return 0.0
  hits = np.asarray(true_positive)[np.argsort(scores)[::-1]].astype(int)
  true_positives = np.cumsum(hits)
  false_positives = np.cumsum(1 - hits)
  precision = np.concatenate(
      [[0.0], true_positives / (true_positives + false_positives), [0.0]])
  recall = np.concatenate([[0.0], true_positives / num_groundtruth, [1.0]])
  precision = np.maximum.accumulate(precision[::-1])[::-1]
  steps = np.flatnonzero(recall[1:] != recall[:-1]) + 1
  return float(np.sum((recall[steps] - recall[steps - 1]) * precision[steps]))


def match_detections(groundtruth: BoxTable, detections: BoxTable,
                     iou_threshold: float = 0.5) -> tuple[BoxTable, np.ndarray]:
  """Detections grouped by frame, and the true-positive flag of each row.

  Returns the detections with their frames in first-appearance order (rows
  in input order within a frame) and `(rows,)` bool flags in that order.
  """
  detections, frames, offsets = _by_frame(detections)
  gt, gt_frames, gt_offsets = _by_frame(groundtruth)
  gt_slices = {key: slice(gt_offsets[i], gt_offsets[i + 1])
               for i, key in enumerate(gt_frames)}
  tp = np.zeros(len(detections.labels), bool)
  for i, key in enumerate(frames):
    if key in gt_slices:
      rows = slice(offsets[i], offsets[i + 1])
      tp[rows] = _true_positives(detections.select(rows),
                                 gt.select(gt_slices[key]), iou_threshold)
  return detections, tp


def evaluate(groundtruth: BoxTable, detections: BoxTable,
             label_map: dict[int, str], excluded: Iterable[str] = (),
             iou_threshold: float = 0.5) -> dict:
  """Frame-level AP per class and their mean, as the release's evaluator.

  Args:
    groundtruth: ground-truth rows (scores ignored).
    detections: scored detection rows.
    label_map: `{action_id: name}`; other actions are ignored.
    excluded: frame keys to drop from both.
    iou_threshold: IoU for a match.

  Returns:
    `{"mean_ap": float, "per_class_ap": {name: float or None}}`, classes in
    label-map order, None for a class without ground truth; the mean is over
    the classes with ground truth (NaN if there is none).
  """
  excluded = np.asarray(sorted(set(excluded)), dtype=str)

  def kept(table):
    return table.select(np.isin(table.labels, list(label_map))
                        & ~np.isin(table.keys, excluded))

  groundtruth = kept(groundtruth)
  # Frames are ordered before invalid boxes go (the release drops them per
  # frame), which fixes the order of tied scores.
  detections = _by_frame(kept(detections))[0]
  b = detections.boxes
  detections = detections.select((b[:, 0] < b[:, 2]) & (b[:, 1] < b[:, 3]))
  detections, tp = match_detections(groundtruth, detections, iou_threshold)
  per_class = {}
  for class_id, name in label_map.items():
    rows = detections.labels == class_id
    ap = voc_average_precision(detections.scores[rows], tp[rows],
                               int(np.sum(groundtruth.labels == class_id)))
    per_class[name] = None if np.isnan(ap) else ap
  values = [v for v in per_class.values() if v is not None]
  return {"mean_ap": float(np.mean(values)) if values else float("nan"),
          "per_class_ap": per_class}


def release_metric_names(result: dict, iou_threshold: float = 0.5) -> dict:
  """`evaluate`'s result under the release's metric names."""
  named = {MEAN_AP_NAME.format(iou_threshold): result["mean_ap"]}
  for name, ap in result["per_class_ap"].items():
    named[CLASS_AP_NAME.format(iou_threshold, name)] = ap
  return named


def evaluate_files(groundtruth_csv, detections_csv, label_map_pbtxt,
                   excluded_csv=None, iou_threshold: float = 0.5) -> dict:
  """`evaluate` on the AVA files (the release's `evaluate_ava_from_files`)."""
  label_map = read_label_map(label_map_pbtxt)
  excluded = read_excluded(excluded_csv) if excluded_csv else set()
  return evaluate(read_boxes(groundtruth_csv, with_scores=False,
                             class_ids=label_map),
                  read_boxes(detections_csv, with_scores=True,
                             class_ids=label_map),
                  label_map, excluded, iou_threshold)
