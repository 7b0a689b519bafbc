"""AVA data: box selection, prepare (frames and movies, bad input), pipelines.

The frames fixture is a tiny AVA-format set of extracted frames (64x48, 30
fps, 5 s): each frame's background grey level encodes its frame number, and
every ground-truth box is drawn as a bright rectangle, so the tests can read
back which frames a clip took and where its boxes are in the pixels.
"""

import csv
import os

import numpy as np
from PIL import Image
import pytest
import tensorflow_datasets as tfds

from slowfast_jax import validate
from slowfast_jax.data import ava_annotations
from slowfast_jax.data import ava_builder
from slowfast_jax.data import ava_frames
from slowfast_jax.data import ava_pipeline
from slowfast_jax.data import ava_prepare
from slowfast_jax.data import ava_synthetic
from slowfast_jax.data import decode
from slowfast_jax.data import flip_labels
from slowfast_jax.data import synthetic
from slowfast_jax.evaluation import ava_metrics

from model_configs import AVA_PRESETS
from model_configs import load_preset
from convert_references import AVA_EVAL_DIR as REFERENCE

HEIGHT, WIDTH, NUM_FRAMES = 48, 64, 150
SIZES = {"vid_d": (56, 64)}  # (height, width) of the frames, if not these.
# video -> [(x1, y1, x2, y2) in pixels, inclusive, labels]; drawn in frames.
GT = {
    "vid_a": [((8, 6, 27, 40), (1, 4)), ((40, 10, 57, 30), (2,))],
    "vid_b": [((20, 12, 45, 44), (3,))],
    "vid_missing": [((8, 6, 27, 40), (1,))],
    "vid_c": [((10, 8, 33, 39), (2,))],
    "vid_d": [((30, 4, 60, 24), (1,)), ((4, 20, 20, 46), (3,))],
}
TRAIN, VAL = ("vid_a", "vid_b", "vid_missing"), ("vid_c", "vid_d")
SECONDS = (2, 3, 4)
CORRUPT = ("vid_a", 2 * 30 + 3)  # In keyframe 2's window: skipped.
DELETED = ("vid_b", 3 * 30 - 5)  # In keyframe 3's window: skipped.


def _norm(box, video):
  height, width = SIZES.get(video, (HEIGHT, WIDTH))
  x1, y1, x2, y2 = box
  return [f"{x1 / width:.6f}", f"{y1 / height:.6f}", f"{x2 / width:.6f}",
          f"{y2 / height:.6f}"]


def _frame(video, index):
  image = np.full((*SIZES.get(video, (HEIGHT, WIDTH)), 3), 20 + index % 60,
                  np.uint8)
  for (x1, y1, x2, y2), _ in GT[video]:
    image[y1:y2 + 1, x1:x2 + 1] = 250
  return image


def _write_frames_set(root):
  """Frames, CSVs and label map; returns (annotation_dir, frame_dir)."""
  annotations = os.path.join(root, "annotations")
  frames = os.path.join(root, "frames")
  os.makedirs(os.path.join(annotations, ava_synthetic.BOX_DIR))
  for video in GT:
    if video == "vid_missing":
      continue
    os.makedirs(os.path.join(frames, video))
    for i in range(NUM_FRAMES):
      Image.fromarray(_frame(video, i)).save(
          ava_frames.frame_file(frames, video, i + 1), quality=95)
  with open(ava_frames.frame_file(frames, CORRUPT[0], CORRUPT[1] + 1),
            "wb") as f:
    f.write(b"\xff\xd8 not a jpeg")
  os.remove(ava_frames.frame_file(frames, DELETED[0], DELETED[1] + 1))
  rows = {"train_gt": [], "val_gt": [], "train_boxes": [], "val_boxes": []}
  for video in GT:
    split = "train" if video in TRAIN else "val"
    for sec in (1, *SECONDS, 5):  # 1 and 5 are outside the valid seconds.
      for person, (box, labels) in enumerate(GT[video]):
        for label in labels:
          rows[f"{split}_gt"].append([video, sec, *_norm(box, video), label,
                                      person])
        if split == "train":  # Same box text: merged, label 5 added.
          rows["train_boxes"].append([video, sec, *_norm(box, video), 5,
                                      "0.95"])
        else:
          rows["val_boxes"].append([video, sec, *_norm(box, video), "",
                                    "0.9"])
      low = [video, sec, "0.1", "0.1", "0.5", "0.5", "", "0.3"]
      rows[f"{split}_boxes"].append(low)  # Under the threshold: dropped.
  for key, content in rows.items():
    with open(os.path.join(annotations, ava_synthetic.FILES[key]), "w",
              newline="") as f:
      csv.writer(f).writerows(content)
  ava_synthetic.write_label_map(
      os.path.join(annotations, ava_synthetic.FILES["label_map"]))
  with open(os.path.join(annotations, ava_synthetic.FILES["excluded"]),
            "w") as f:
    f.write("vid_c,0002\n")
  return annotations, frames


def _config(data_dir, name):
  from slowfast_jax import config_lib  # pylint: disable=g-import-not-at-top
  model = config_lib.ava_model_config(aligned=True, arch="slowfast",
                                      num_frames=8, alpha=4)
  config = config_lib.ava_config(model, sampling_rate=2, global_batch_size=4,
                                 short_schedule=True, test_crop_size=40)
  config.model.num_classes = 5
  config.model.train_crop_size = 32
  config.data.train_jitter_scales = [32, 48]
  config.data.keyframe_seconds = (2, 4)
  config.data.frames_start_second = 0
  config.data.name = name
  config.data.data_dir = data_dir
  config.data.shuffle_buffer = 8
  return config


@pytest.fixture(scope="module")
def frames_set(tmp_path_factory):
  root = str(tmp_path_factory.mktemp("ava_frames"))
  annotations, frames = _write_frames_set(root)
  data_dir = os.path.join(root, "tfds")
  config = _config(data_dir, "ava_tiny")
  summary = ava_prepare.prepare_ava(
      config, annotation_dir=annotations, frame_dir=frames,
      data_dir=data_dir, short_side=0)
  return config, summary, annotations


def test_release_box_selection(tmp_path):
  path = tmp_path / "gt.csv"
  path.write_text("v,902,0.1,0.2,0.3,0.4,5,0\n"
                  "v,902,0.1,0.2,0.3,0.4,7,0\n"
                  "v,902,0.5,0.5,0.9,0.9,1,1\n"
                  "v,901,0.1,0.2,0.3,0.4,5,0\n")  # Outside the seconds.
  predicted = tmp_path / "pred.csv"
  predicted.write_text("v,902,0.1,0.2,0.3,0.4,9,0.85\n"  # Merged (same text).
                       "v,902,0.10,0.2,0.3,0.4,9,0.85\n"  # Other text: new.
                       "v,902,0.6,0.6,0.7,0.7,,0.8\n"  # At the threshold.
                       "v,902,0.2,0.2,0.4,0.4,3,0.79\n"  # Under: dropped.
                       "w,903,0.2,0.2,0.4,0.4,3,0.5\n")  # Only box: no frame.
  files = [ava_annotations.BoxFile(str(path), True),
           ava_annotations.BoxFile(str(predicted), False),
           ava_annotations.BoxFile(str(path), False)]  # Person id as score.
  keyframes = ava_annotations.read_keyframes(files, score_threshold=0.8,
                                             seconds=(902, 1798))
  assert [(k.video_id, k.timestamp) for k in keyframes] == [("v", 902)]
  (k,) = keyframes
  assert k.boxes == ((0.1, 0.2, 0.3, 0.4), (0.5, 0.5, 0.9, 0.9),
                     (0.1, 0.2, 0.3, 0.4), (0.6, 0.6, 0.7, 0.7))
  assert k.labels == ((5, 7, 9), (1,), (9,), ())
  # The release's lists: training = GT lists then predicted lists; test =
  # the test lists only.
  config = _config("", "x")
  train = ava_annotations.split_box_files(config.data, "train", "A")
  assert [(f.path, f.is_groundtruth) for f in train] == [
      ("A/ava_train_v2.2.csv", True), ("A/ava_train_v2.2.csv", False),
      (f"A/{ava_synthetic.FILES['train_boxes']}", False)]
  val = ava_annotations.split_box_files(config.data, "val", "A")
  assert [(f.path, f.is_groundtruth) for f in val] == [
      (f"A/{ava_synthetic.FILES['val_boxes']}", False)]
  for bad in ("v,902,0.1\n", "v,902,0.1,0.2,0.3,0.4,0,0\n"):
    (tmp_path / "gt.csv").write_text(bad)
    with pytest.raises(ava_annotations.AnnotationError, match="gt.csv:1"):
      ava_annotations.read_keyframes(files[:1], score_threshold=0.8,
                                     seconds=(902, 1798))


def test_prepare_frames_counts_boxes_labels_and_report(frames_set):
  config, summary, annotations = frames_set
  assert summary.keyframes == {"train": 9, "val": 6}
  assert summary.written == {"train": 4, "val": 6}
  report = {(s, v, t): why for s, v, t, why in summary.skipped}
  assert set(report) == {("train", "vid_missing", ""), ("train", "vid_a", "2"),
                         ("train", "vid_b", "3")}
  assert "no frame folder" in report["train", "vid_missing", ""]
  assert "3 keyframes" in report["train", "vid_missing", ""]
  assert "corrupt frame vid_a_000064.jpg" in report["train", "vid_a", "2"]
  assert "missing frame vid_b_000086.jpg" in report["train", "vid_b", "3"]
  assert summary.exit_code == 3
  with open(summary.report_path) as f:
    assert len(f.read().splitlines()) == 4  # Header and three rows.
  builder = ava_builder.load(config.data.data_dir, "ava_tiny")
  for split, videos in (("train", TRAIN), ("val", VAL)):
    examples = list(builder.as_dataset(split=split).as_numpy_iterator())
    keys = sorted((e["video_id"].decode(), int(e["timestamp"]))
                  for e in examples)
    expected = sorted((v, s) for v in videos for s in SECONDS
                      if v != "vid_missing" and (v, s) not in (
                          ("vid_a", 2), ("vid_b", 3)))
    assert keys == expected
    for e in examples:
      video, sec = e["video_id"].decode(), int(e["timestamp"])
      boxes = [[float(x) for x in _norm(b, video)] for b, _ in GT[video]]
      np.testing.assert_allclose(e["boxes"], boxes, atol=1e-6)
      labels = {(b, l) for b, l in zip(e["label_box"], e["label_id"])}
      extra = {5} if split == "train" else set()  # Merged predicted label.
      if split == "train":
        assert labels == {(b, l) for b, (_, ls) in enumerate(GT[video])
                          for l in (*ls, *extra)}
      else:
        assert not labels  # Test boxes carry no labels.
      # 16 frames around the keyframe, which sits at index 8.
      assert e["video"].shape == (16, *SIZES.get(video, (HEIGHT, WIDTH)), 3)
      assert e["key_index"] == 8
      assert abs(int(e["video"][8, 0, 0, 0]) - (20 + (30 * sec) % 60)) <= 2
  info = builder.info.metadata
  assert info["max_boxes"] == {"train": 2, "val": 2}
  assert info["window"] == 16 and info["score_threshold"] == 0.8
  directory = summary.directory
  for name in ("label_map.pbtxt", "excluded_timestamps.csv",
               "val_groundtruth.csv"):
    assert os.path.exists(os.path.join(directory, name))
  # Re-running writes nothing new and reports the same.
  again = ava_prepare.prepare_ava(
      config, annotation_dir=annotations,
      frame_dir=os.path.join(os.path.dirname(annotations), "frames"),
      data_dir=config.data.data_dir, short_side=0)
  assert again.written == summary.written and again.skipped == summary.skipped


def _bright_box(frame, near):
  """x1, y1, x2, y2 of the bright pixels within 3 px of box `near`."""
  x1, y1, x2, y2 = (int(round(v)) for v in near)
  bright = frame[..., 0] > 135
  window = np.zeros_like(bright)
  window[max(y1 - 3, 0):y2 + 4, max(x1 - 3, 0):x2 + 4] = True
  ys, xs = np.nonzero(bright & window)
  if not len(xs):
    return None
  return np.array([xs.min(), ys.min(), xs.max(), ys.max()], np.float32)


def test_train_boxes_move_with_the_pixels(frames_set):
  config = frames_set[0]
  ds = ava_pipeline.make_train_dataset(config, seed=3)
  spec = ds.element_spec
  assert all(s.shape.is_fully_defined() for s in spec.values())
  assert spec["boxes"].shape == (4, 2, 4)  # Padded to the split's maximum.
  assert spec["labels"].shape == (4, 2, 5)
  checked, positions = 0, set()
  for batch in ds.take(6).as_numpy_iterator():
    assert batch["video"].shape == (4, 8, 32, 32, 3)
    for clip, boxes, mask, labels in zip(batch["video"], batch["boxes"],
                                         batch["box_mask"], batch["labels"]):
      assert 1 <= mask.sum() <= 2 and not boxes[~mask].any()
      assert not labels[~mask].any() and labels[mask, 4].all()  # Label 5.
      for box in boxes[mask]:
        if box[2] - box[0] < 3 or box[3] - box[1] < 3:
          continue  # Cropped (almost) out of the clip.
        for frame in clip:  # The same scale, crop and flip in every frame.
          np.testing.assert_allclose(box, _bright_box(frame, box), atol=1.6)
        checked += 1
        positions.add(tuple(np.round(box)))
  assert checked >= 8 and len(positions) >= 6  # Varied scale/crop/flip.


@pytest.mark.parametrize("host_count", [1, 2])
def test_eval_each_keyframe_once_and_boxes_on_the_frame(frames_set,
                                                        host_count):
  config = frames_set[0]
  seen, batches = [], []
  for host in range(host_count):
    ds = ava_pipeline.make_eval_dataset(config, "val", batch_size=4,
                                        process_index=host,
                                        process_count=host_count)
    spec = ds.element_spec
    assert spec["video"].shape.as_list() == [4 // host_count, 8, 40, None, 3]
    assert all(s.shape.is_fully_defined() for k, s in spec.items()
               if k != "video")
    assert spec["boxes"].shape == (4 // host_count, 2, 4)
    count = 0
    for batch in ds.as_numpy_iterator():
      count += 1
      # One frame size per batch: 48x64 -> 40x53, 56x64 -> 40x45 (vid_d).
      width = batch["video"].shape[3]
      assert batch["video"].shape == (4 // host_count, 8, 40, width, 3)
      assert width == (45 if count == 2 else 53)
      for i in np.nonzero(batch["mask"])[0]:
        seen.append(int(batch["keyframe_index"][i]))
        video = batch["video_id"][i].decode()
        assert width == (45 if video == "vid_d" else 53)
        mask = batch["box_mask"][i]
        assert mask.sum() == len(GT[video])
        # Boxes scale with the long side: 64 -> width.
        for box, (expected, _) in zip(batch["boxes"][i][mask], GT[video]):
          np.testing.assert_allclose(box, np.array(expected) * width / 64,
                                     atol=1e-4)
        # Frames: the release's range(key - 8, key + 8, 2) of 30 fps frames.
        key = 30 * int(batch["timestamp"][i])
        greys = batch["video"][i][:, 0, 0, 0].astype(int)
        np.testing.assert_allclose(
            greys, [20 + (key + o) % 60 for o in range(-8, 8, 2)], atol=2)
    batches.append(count)
  assert sorted(seen) == list(range(6))
  assert len(set(batches)) == 1  # Every host yields the same count.


def test_config_must_match_the_prepared_dataset(frames_set):
  config = frames_set[0]
  config = config.copy_and_resolve_references()
  config.data.detection_score_thresh = 0.5
  with pytest.raises(validate.ConfigError, match="detection_score_thresh"):
    ava_pipeline.make_eval_dataset(config, "val", batch_size=2)
  config.data.detection_score_thresh = 0.8
  config.model.num_frames = 16  # 32 frames: more than the 16 stored.
  with pytest.raises(validate.ConfigError, match="--window=32"):
    ava_pipeline.make_eval_dataset(config, "val", batch_size=2)
  config.model.num_frames = 8
  config.data.test_predict_box_lists = ["ava_val_predicted_boxes.csv"]
  with pytest.raises(validate.ConfigError, match="box lists for 'val'"):
    ava_pipeline.make_eval_dataset(config, "val", batch_size=2)


def test_ava_actions_have_no_mirror_classes():
  """A flip swaps no AVA action (the release's 60 evaluated ones): the
  label-aware flip would change no label."""
  names = list(ava_metrics.read_label_map(REFERENCE / "label_map.pbtxt")
               .values())
  assert len(names) == 60 and flip_labels.flip_pairs(names) == []


@pytest.mark.parametrize("preset", AVA_PRESETS)
def test_label_aware_flip_is_refused_not_ignored(preset):
  """The AVA pipeline flips pixels and boxes, never labels (as the
  release's ava_dataset.py), so validation refuses the flag."""
  config = load_preset(preset)
  config.data.label_aware_flip = True
  with pytest.raises(validate.ConfigError,
                     match=r"^config.data.label_aware_flip=True .*"
                     r"config.model.detection"):
    validate.validate_data(config)
  config.data.label_aware_flip = False
  with pytest.raises(validate.ConfigError, match="data_dir is not set"):
    validate.validate_data(config)


def test_synthetic_movies_prepared_with_a_missing_movie(tmp_path):
  dirs = ava_synthetic.generate(tmp_path / "syn", train_movies=2,
                                val_movies=1, height=48, width=64,
                                seconds=4.0)
  os.remove(os.path.join(dirs["movies"], "syn_train_001.mp4"))
  config = _config(str(tmp_path / "tfds"), "ava_syn")
  config.data.keyframe_seconds = (1, 2)
  summary = ava_prepare.prepare_ava(
      config, annotation_dir=dirs["annotations"], video_dir=dirs["movies"],
      data_dir=config.data.data_dir, short_side=0)
  assert summary.keyframes == {"train": 4, "val": 2}
  assert summary.written == {"train": 2, "val": 2}
  assert [row[:3] for row in summary.skipped] == [
      ("train", "syn_train_001", "")]
  assert "not found" in summary.skipped[0][3]
  decoded = decode.decode_video(
      os.path.join(dirs["movies"], "syn_train_000.mp4"), fps=30,
      short_side=None)
  builder = ava_builder.load(config.data.data_dir, "ava_syn")
  for e in tfds.as_numpy(builder.as_dataset(split="train")):
    key = 30 * int(e["timestamp"])
    for offset in (-8, 0, 7):  # The stored frames are the movie's frames.
      stored = e["video"][e["key_index"] + offset].astype(float)
      errors = [np.abs(stored - decoded[key + offset + d]).mean()
                for d in range(-3, 4)]
      assert int(np.argmin(errors)) == 3 and errors[3] < 8
  with open(os.path.join(dirs["annotations"],
                         ava_synthetic.FILES["train_gt"])) as f:
    rows = list(csv.reader(f))
  assert {int(r[6]) for r in rows} <= set(range(1, 5))


def test_box_bce_loss_is_the_releases_bce_over_real_boxes():
  import jax  # pylint: disable=g-import-not-at-top
  import torch  # pylint: disable=g-import-not-at-top
  from slowfast_jax.training import detection_loss  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  logits = rng.normal(0, 4, (3, 4, 5)).astype(np.float32)
  labels = (rng.uniform(size=(3, 4, 5)) < 0.3).astype(np.int32)
  mask = np.array([[1, 1, 0, 0], [1, 0, 0, 0], [1, 1, 1, 1]], bool)
  logits[~mask] = np.nan  # Padding never reaches the loss or gradient.
  release = torch.nn.BCELoss(reduction="mean")(
      torch.sigmoid(torch.from_numpy(logits[mask])),
      torch.from_numpy(labels[mask]).float())
  loss, grad = jax.value_and_grad(detection_loss.box_bce_loss)(
      logits, labels, mask)
  np.testing.assert_allclose(loss, release.item(), rtol=1e-6)
  assert np.isfinite(grad).all() and not grad[~mask].any()
  assert detection_loss.box_bce_loss(logits, labels, mask & False) == 0.0


def test_val_mode_every_fourth_second_centre_crop(frames_set):
  config = frames_set[0]
  seen = []
  for host in range(2):
    ds = ava_pipeline.make_eval_dataset(config, "val", batch_size=2,
                                        process_index=host, process_count=2,
                                        mode="val")
    assert all(s.shape.is_fully_defined() for s in ds.element_spec.values())
    for batch in ds.as_numpy_iterator():
      assert batch["video"].shape == (1, 8, 40, 40, 3)
      for i in np.nonzero(batch["mask"])[0]:
        video = batch["video_id"][i].decode()
        seen.append((video, int(batch["timestamp"][i])))
        # Scaled to 40 x 53 (vid_d: 40 x 45), then the centre 40 square:
        # x offset ceil(13 / 2) = 7 (vid_d: 3).
        width, x = (45, 3) if video == "vid_d" else (53, 7)
        mask = batch["box_mask"][i]
        expected = [np.clip(np.array(b) * width / 64 - [x, 0, x, 0], 0, 39)
                    for b, _ in GT[video]]
        np.testing.assert_allclose(batch["boxes"][i][mask], expected,
                                   atol=1e-4)
        for box in batch["boxes"][i][mask]:  # Drawn where the box says.
          np.testing.assert_allclose(
              box, _bright_box(batch["video"][i][0], box), atol=1.6)
  assert sorted(seen) == [("vid_c", 4), ("vid_d", 4)]


def test_movie_reader_seeks_to_the_frames_asked_for(tmp_path):
  # Frame k shows k in binary: 8 horizontal strips, white for a set bit.
  bits = (np.arange(256)[:, None] >> np.arange(8)) & 1
  frames = np.repeat(np.where(bits, 235, 20), 4, axis=1).astype(np.uint8)
  frames = np.broadcast_to(frames[:, :, None, None], (256, 32, 32, 3))
  path = str(tmp_path / "m.mp4")
  synthetic.write_video(path, np.ascontiguousarray(frames), 30, crf=12)
  wanted = [60, 61, 62, 70, 200, 236, 255]  # Seeks to about 1 s.
  got = list(ava_frames.movie_frames(path, wanted + [256, 400], fps=30,
                                     short_side=0))
  assert [i for i, _ in got] == wanted  # Stops at the movie's end.
  shown = [int(sum((f[4 * b:4 * b + 4, :, 0].mean() > 128) << b
                   for b in range(8))) for _, f in got]
  assert shown == wanted
