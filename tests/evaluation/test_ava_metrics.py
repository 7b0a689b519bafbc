"""AVA frame mAP against the release's evaluator output, and hand-made cases."""

import json

import numpy as np
import pytest

from slowfast_jax.evaluation import ava_metrics

import convert_references

REFERENCE = convert_references.AVA_EVAL_DIR
LABELS = {1: "bend", 3: "crouch", 4: "dance"}
A = [0.1, 0.1, 0.4, 0.5]  # Ground-truth boxes, x1, y1, x2, y2.
B = [0.5, 0.2, 0.9, 0.8]
NEAR_A = [0.11, 0.1, 0.4, 0.52]


def table(rows):
  """`[(key, box, label, score), ...]` → `BoxTable`."""
  keys, boxes, labels, scores = zip(*rows)
  return ava_metrics.box_table(keys, boxes, labels, scores)


def evaluate(gt_rows, det_rows, excluded=()):
  return ava_metrics.evaluate(table(gt_rows), table(det_rows), LABELS, excluded)


@pytest.mark.skipif(not REFERENCE.exists(), reason="no reference files")
def test_reference_equals_release_metrics():
  result = ava_metrics.evaluate_files(
      REFERENCE / "groundtruth.csv", REFERENCE / "detections.csv",
      REFERENCE / "label_map.pbtxt", REFERENCE / "excluded_timestamps.csv")
  got = ava_metrics.release_metric_names(result)
  want = json.loads((REFERENCE / "metrics.json").read_text())
  assert list(got) == list(want)  # Same classes, in label-map order.
  for name, value in want.items():
    if value is None:
      assert got[name] is None, name
    else:
      assert got[name] == pytest.approx(value, abs=1e-6), name
  assert sum(v is not None for v in want.values()) > 10  # Not vacuous.


def test_perfect_detections_give_one():
  gt = [("v,0902", A, 1, 1), ("v,0902", B, 4, 1), ("w,0903", A, 4, 1)]
  result = evaluate(gt, [(k, box, label, 0.5) for k, box, label, _ in gt])
  assert result["mean_ap"] == 1.0
  assert result["per_class_ap"] == {"bend": 1.0, "crouch": None, "dance": 1.0}


def test_duplicate_detection_is_a_false_positive():
  gt = [("v,0902", A, 1, 1), ("v,0902", B, 1, 1)]
  det = [("v,0902", A, 1, 0.9), ("v,0902", NEAR_A, 1, 0.8),
         ("v,0902", B, 1, 0.7)]
  _, tp = ava_metrics.match_detections(table(gt), table(det))
  np.testing.assert_array_equal(tp, [True, False, True])
  # Ranked TP, FP, TP: AP = 0.5 · 1 + 0.5 · 2/3.
  assert evaluate(gt, det)["mean_ap"] == pytest.approx(0.5 + 0.5 * 2 / 3)
  assert evaluate(gt, det[:1] + det[2:])["mean_ap"] == 1.0


def test_excluded_frame_and_unknown_labels_are_ignored():
  gt = [("v,0902", A, 1, 1), ("v,0910", B, 1, 1), ("v,0902", B, 7, 1)]
  det = [("v,0902", A, 1, 0.9), ("v,0910", A, 1, 0.95), ("v,0902", A, 7, 1)]
  assert evaluate(gt, det)["mean_ap"] == pytest.approx(0.25)
  result = evaluate(gt, det, excluded={"v,0910"})
  assert result["per_class_ap"] == {"bend": 1.0, "crouch": None, "dance": None}


def test_matching_follows_input_order_not_score():
  """The release matches a frame's detections in input order, and a box
  goes to its best-IoU ground truth even when that one is already taken."""
  gt = [("v,0902", A, 1, 1)]
  det = [("v,0902", NEAR_A, 1, 0.3), ("v,0902", A, 1, 0.9)]
  _, tp = ava_metrics.match_detections(table(gt), table(det))
  np.testing.assert_array_equal(tp, [True, False])
  assert evaluate(gt, det)["mean_ap"] == pytest.approx(0.5)  # FP ranked first.
  wide = [0.1, 0.1, 0.45, 0.5]  # IoU ≥ 0.5 with both A and NEAR_A.
  gt = [("v,0902", A, 1, 1), ("v,0902", NEAR_A, 1, 1)]
  det = [("v,0902", A, 1, 0.9), ("v,0902", wide, 1, 0.8)]
  _, tp = ava_metrics.match_detections(table(gt), table(det))
  np.testing.assert_array_equal(tp, [True, False])


def test_missing_detections_and_invalid_boxes():
  gt = [("v,0902", A, 1, 1), ("v,0902", B, 3, 1)]
  flipped = [A[2], A[1], A[0], A[3]]  # x2 < x1: removed before matching.
  result = evaluate(gt, [("v,0902", flipped, 1, 0.9), ("v,0902", A, 1, 0.1)])
  assert result["per_class_ap"] == {"bend": 1.0, "crouch": 0.0, "dance": None}
  assert result["mean_ap"] == 0.5


def test_csv_round_trip_and_scores_to_detections(tmp_path):
  label_map = tmp_path / "labels.pbtxt"
  label_map.write_text('item {\n  name: "bend"\n  id: 1\n}\n'
                       'item {\n  name: "dance"\n  label_id: 4\n}\n')
  assert ava_metrics.read_label_map(label_map) == {1: "bend", 4: "dance"}
  keys = [ava_metrics.frame_key("vid", "902"),
          ava_metrics.frame_key("vid", 1000)]
  assert keys == ["vid,0902", "vid,1000"]
  scores = np.array([[0.1, 0.2, 0.3, 0.4], [0.5, 0.6, 0.7, 0.8]])
  det = ava_metrics.detections_from_scores(keys, [A, B], scores, [1, 4])
  np.testing.assert_array_equal(det.labels, [1, 4, 1, 4])
  np.testing.assert_array_equal(det.scores, [0.1, 0.4, 0.5, 0.8])
  np.testing.assert_array_equal(det.boxes, [A, A, B, B])
  path = tmp_path / "detections.csv"
  ava_metrics.write_boxes(path, det)
  assert path.read_text().splitlines()[1] == (
      "vid,0902,0.100,0.100,0.400,0.500,4,0.4000")
  back = ava_metrics.read_boxes(path, with_scores=True, class_ids=[4])
  np.testing.assert_array_equal(back.keys, ["vid,0902", "vid,1000"])
  np.testing.assert_allclose(back.boxes, [A, B])
  np.testing.assert_allclose(back.scores, [0.4, 0.8])
  path.write_text("vid,0902,0.1,0.1,0.4,0.5,4\n")  # No score column.
  with pytest.raises(ValueError, match="csv:1: 7 columns; expected 8"):
    ava_metrics.read_boxes(path, with_scores=True)


def loop_evaluation(gt, det, label_ids):
  """The release's rules as plain loops: frames in first-appearance order,
  detections in input order, `np.argsort(scores)[::-1]` ranking."""
  frames = {}
  for key, box, label, score in det:
    frames.setdefault(key, []).append((box, label, score))
  aps = {}
  for c in label_ids:
    num_gt = sum(label == c for _, _, label, _ in gt)
    scores, hits = [], []
    for key, rows in frames.items():
      truth = [np.array(b) for k, b, label, _ in gt if k == key and label == c]
      taken = [False] * len(truth)
      for box, label, score in rows:
        box = np.array(box)
        if label != c or not (box[0] < box[2] and box[1] < box[3]):
          continue
        ious = [ava_metrics._iou(box[None], t[None])[0, 0] for t in truth]
        best = int(np.argmax(ious)) if ious else -1
        hit = best >= 0 and ious[best] >= 0.5 and not taken[best]
        if hit:
          taken[best] = True
        scores.append(score)
        hits.append(hit)
    if num_gt:
      order = np.argsort(np.array(scores, float))[::-1]
      tp = np.cumsum(np.array(hits, int)[order])
      precision = list(tp / np.arange(1, len(tp) + 1))
      recall = [0.0] + list(tp / num_gt)
      ap = sum((recall[i + 1] - recall[i]) * max(precision[i:])
               for i in range(len(precision)))
      aps[c] = ap
  return aps


@pytest.mark.parametrize("seed", range(6))
def test_random_frames_with_tied_scores_equal_loop_evaluation(seed):
  rng = np.random.default_rng(seed)
  gt, det = [], []
  for frame in range(8):
    key = f"v{frame % 3},{902 + frame:04d}"
    for _ in range(rng.integers(1, 4)):
      x, y = rng.random(2) * 0.5
      box = [x, y, x + 0.2 + 0.3 * rng.random(), y + 0.2 + 0.3 * rng.random()]
      label = int(rng.choice([1, 3, 4]))
      gt.append((key, box, label, 1.0))
      for _ in range(rng.integers(0, 4)):  # Jittered, sometimes flipped.
        jittered = list(np.array(box) + rng.normal(0, 0.06, 4))
        if rng.random() < 0.1:
          jittered = [jittered[i] for i in (2, 1, 0, 3)]
        det.append((key, jittered, label, round(rng.random(), 1)))
  det += [(f"v9,{902:04d}", A, 1, 0.5)]  # A frame without ground truth.
  det = [det[i] for i in rng.permutation(len(det))]
  result = evaluate(gt, det)
  want = loop_evaluation(gt, det, LABELS)
  for class_id, name in LABELS.items():
    assert result["per_class_ap"][name] == pytest.approx(
        want.get(class_id), abs=1e-12), name
  assert result["mean_ap"] == pytest.approx(np.mean(list(want.values())))
