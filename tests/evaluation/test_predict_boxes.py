"""predict --boxes: per-second actions of given person boxes (AVA models)."""

import json
import os
import pathlib
import subprocess
import sys

import av
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from slowfast_jax import checkpoint
from slowfast_jax import class_names
from slowfast_jax import models
from slowfast_jax import sharding
from slowfast_jax.data import ava_annotations
from slowfast_jax.data import ava_synthetic
from slowfast_jax.data import decode
from slowfast_jax.data import synthetic
from slowfast_jax.evaluation import box_prediction
from slowfast_jax.evaluation import evaluator
from slowfast_jax.evaluation import scorer

from model_configs import load_preset
from model_configs import random_variables

ROOT = pathlib.Path(__file__).resolve().parents[2]
# Action ids 1, 2 and 4 named; id 3 is not in the map.
LABEL_MAP = ('item {\n  name: "stand"\n  id: 1\n}\n'
             'item {\n  name: "sit"\n  id: 2\n}\n'
             'item {\n  name: "walk"\n  id: 4\n}\n')
NAMES = ["stand", "sit", "action 3", "walk"]
FPS = 30
NUM_FRAMES = 126  # 4.2 s.
# The seconds of video "good" and their boxes after reading BOXES_CSV.
BOXES = {0: [(0.1, 0.2, 0.5, 0.9)],
         1: [(0.1, 0.2, 0.5, 0.9), (0.55, 0.1, 0.95, 0.8)],
         3: [(0.2, 0.1, 0.7, 1.0)],
         4: [(0.5, 0.5, 1.0, 1.0), (0.05, 0.05, 0.45, 0.95)]}
BOXES_CSV = """\
good,0,0.1,0.2,0.5,0.9,,0.95
good,1,0.1,0.2,0.5,0.9,3,0.95
good,1,0.1,0.2,0.5,0.9,4,0.95
good,1,0.55,0.1,0.95,0.8,,0.9
good,1,0.0,0.0,0.3,0.3,,0.4
good,3,0.2,0.1,0.7,1.0
good,4,0.5,0.5,1.0,1.0,2
good,4,0.05,0.05,0.45,0.95,,0.85
good,6,0.1,0.1,0.2,0.2,,0.9
corrupt,1,0.1,0.1,0.5,0.5,,0.9
other,1,0.1,0.1,0.5,0.5,,0.9
"""


def tiny_config():
  """The short AVA SlowFast preset at width 8, 4 classes, 8 frames, 64 px."""
  config = load_preset("ava_slowfast_32x2_r50_short")
  config.model.width_per_group = 8
  config.model.num_classes = 4
  config.model.num_frames = 8
  config.data.test_crop_size = 64
  return config


@pytest.fixture(scope="module")
def detection_checkpoint(tmp_path_factory):
  """`(config, variables, directory)`: random variables saved with the config
  (as training stores it)."""
  config = tiny_config()
  model = models.build_model(config.model)
  inputs = [jnp.zeros(s) for s in models.input_shapes(config.model, 64)]
  variables = jax.tree.map(np.asarray, random_variables(model, inputs))
  directory = tmp_path_factory.mktemp("ckpt") / "ckpt"
  checkpoint.save_variables(
      directory, variables,
      metadata={"config": json.loads(config.to_json_best_effort())})
  return config, variables, directory


def test_keyframe_clips_are_the_release_clips_clamped_to_the_video():
  offsets = np.arange(-8, 8, 2)  # ava_pipeline.frame_offsets(8, 2).
  frames = [np.full((2, 3, 3), i, np.uint8) for i in range(50)]
  keys = [0, 5, 30, 31, 45, 49, 50, 70]  # The last two are past the end.
  clips = list(box_prediction.keyframe_clips(iter(frames), keys, offsets))
  assert len(clips) == 6
  for key, clip in zip(keys, clips):
    assert clip.shape == (8, 2, 3, 3)
    assert clip[:, 0, 0, 0].tolist() == [min(max(key + o, 0), 49)
                                         for o in range(-8, 8, 2)]


def test_read_person_boxes_drops_low_scores_and_merges_duplicates(tmp_path):
  path = tmp_path / "boxes.csv"
  path.write_text(BOXES_CSV)
  boxes = box_prediction.read_person_boxes(str(path), 0.8)
  assert sorted(boxes) == ["corrupt", "good", "other"]
  assert {k.timestamp: list(k.boxes) for k in boxes["good"]} == {
      **BOXES, 6: [(0.1, 0.1, 0.2, 0.2)]}
  assert box_prediction.video_id("/x/good.mp4") == "good"
  path.write_text("good,1,0.1,0.2,0.5,0.9\ngood,2,0.1,0.2\n")
  with pytest.raises(ava_annotations.AnnotationError,
                     match=r"boxes.csv:2: expected video_id, timestamp, "
                     r"x1, y1, x2, y2\[, action_id\[, score\]\]: 4 columns"):
    box_prediction.read_person_boxes(str(path), 0.8)


def test_box_batch_scales_clips_and_pads_rows_and_slots():
  clips = [np.zeros((8, 64, 85, 3), np.uint8), np.ones((8, 64, 85, 3),
                                                        np.uint8)]
  batch = box_prediction.box_batch(clips, [BOXES[4], BOXES[0]], slots=3,
                                   rows=4)
  assert batch["video"].shape == (4, 8, 64, 85, 3)
  assert batch["mask"].tolist() == [True, True, False, False]
  assert batch["box_mask"].tolist() == [[True, True, False],
                                        [True, False, False],
                                        [False] * 3, [False] * 3]
  # Normalised × (85, 64), clipped to the last pixel.
  np.testing.assert_allclose(batch["boxes"][0, :2], [
      [42.5, 32.0, 84.0, 63.0], [4.25, 3.2, 38.25, 60.8]], rtol=1e-6)
  assert not batch["boxes"][2:].any() and not batch["video"][2:].any()


def test_labels_from_an_ava_label_map(tmp_path):
  path = tmp_path / "labels.pbtxt"
  path.write_text(LABEL_MAP)
  assert class_names.resolve(4, labels_file=path) == NAMES


def test_text_lines_of_a_record():
  detections = [box_prediction.Detection(75, (0.1, 0.2, 0.5, 0.9),
                                         np.array([0.1, 0.7, 0.2, 0.9]))]
  record = box_prediction.detections_record("v.mp4", detections, NAMES, 2)
  assert record == {"video": "v.mp4", "detections": [
      {"timestamp": 75, "box": [0.1, 0.2, 0.5, 0.9],
       "top": [{"class": "walk", "score": 0.9},
               {"class": "sit", "score": 0.7}]}]}
  assert box_prediction.format_record(record) == [
      "v.mp4", "  1:15  (0.100,0.200,0.500,0.900)  0.900 walk | 0.700 sit"]


def test_boxes_need_a_detection_checkpoint_and_it_needs_boxes():
  error = box_prediction.mode_error(False, "C", boxes="b.csv", timeline=False)
  assert error.startswith("--boxes needs a detection model")
  error = box_prediction.mode_error(True, "C", boxes=None, timeline=False)
  assert "--checkpoint C is a detection model" in error and "--boxes" in error
  assert "--timeline" in box_prediction.mode_error(True, "C", boxes="b.csv",
                                            timeline=True)
  assert box_prediction.mode_error(True, "C", boxes="b.csv", timeline=False) is None
  assert box_prediction.mode_error(False, "C", boxes=None, timeline=True) is None


def release_clip_scores(config, variables, path):
  """`{second: (boxes, classes)}` of BOXES computed here, one second at a
  time with exactly its boxes: the release's test clip of frames decoded
  at 30 fps, short side 64, and the boxes scaled to it."""
  frames = decode.decode_video(path, fps=30, short_side=64)
  height, width = frames.shape[1:3]
  half = 8 * 2 // 2  # num_frames * sampling_rate // 2
  mesh = sharding.make_mesh()
  score = scorer.make_scorer(config.model, config.data, mesh)
  out = {}
  for second, boxes in BOXES.items():
    indices = np.clip(range(second * FPS - half, second * FPS + half, 2), 0,
                      len(frames) - 1)
    pixels = np.asarray(boxes) * [width, height, width, height]
    pixels = np.minimum(pixels, [width - 1, height - 1] * 2)
    batch = {"video": frames[indices][None],
             "boxes": pixels[None].astype(np.float32),
             "box_mask": np.ones((1, len(boxes)), bool),
             "mask": np.ones(1, bool)}
    out[second] = evaluator.score_host_batch(score, variables, batch,
                                             mesh)["scores"][0]
  return out


def run_predict(*args):
  env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=str(ROOT))
  return subprocess.run(
      [sys.executable, "-m", "slowfast_jax.predict", *map(str, args)],
      cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)


def test_predict_boxes_cli(detection_checkpoint, tmp_path):
  config, variables, ckpt = detection_checkpoint
  frames, _ = ava_synthetic.movie(np.random.default_rng(0), height=48,
                                  width=64, seconds=NUM_FRAMES / FPS,
                                  num_actors=2)
  good = str(tmp_path / "good.mp4")
  synthetic.write_video(good, frames, FPS, crf=12)
  no_boxes = str(tmp_path / "no_boxes.mp4")
  synthetic.write_video(no_boxes, frames[:30], FPS)
  corrupt = tmp_path / "corrupt.mp4"
  corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(300))
  boxes_csv = tmp_path / "boxes.csv"
  boxes_csv.write_text(BOXES_CSV)
  labels = tmp_path / "labels.pbtxt"
  labels.write_text(LABEL_MAP)
  result = run_predict(
      "--checkpoint", ckpt, "--boxes", boxes_csv, "--labels", labels,
      "--json", "--top_k", 4, "--batch", 3, "--overlay", tmp_path / "o.mp4",
      corrupt, good, no_boxes)
  assert result.returncode == 1, result.stderr[-3000:]
  errors = [l for l in result.stderr.splitlines() if l.startswith("error: ")]
  assert len(errors) == 2
  assert errors[0].startswith(f"error: {corrupt}: ")
  assert errors[1].startswith(f"error: {no_boxes}: no boxes in {boxes_csv}")
  assert (f"warning: {good}: boxes past the end of the video, not scored: "
          "6 s" in result.stderr)

  [line] = result.stdout.splitlines()
  record = json.loads(line)
  assert record["video"] == good
  detections = record["detections"]
  assert [(d["timestamp"], tuple(d["box"])) for d in detections] == [
      (second, box) for second, boxes in BOXES.items() for box in boxes]
  # Batches of 3 seconds (the second padded with two rows), 2 box slots:
  # the same scores as each second alone with exactly its boxes.
  expected = release_clip_scores(config, variables, good)
  box_index = {}
  for d in detections:
    j = box_index[d["timestamp"]] = box_index.get(d["timestamp"], -1) + 1
    scores = {t["class"]: t["score"] for t in d["top"]}
    assert sorted(scores) == sorted(NAMES)
    np.testing.assert_allclose([scores[n] for n in NAMES],
                               expected[d["timestamp"]][j], atol=1e-5)

  with av.open(str(tmp_path / "o.good.mp4")) as container:
    overlay = [f.to_ndarray(format="rgb24")
               for f in container.decode(video=0)]
  assert len(overlay) == NUM_FRAMES
  source = decode.decode_video(good, fps=None, short_side=None)
  drawn = [np.abs(o.astype(int) - s).mean() for o, s in zip(overlay, source)]
  # Boxes and labels from each annotated second ± 0.5 s; second 2 has none.
  # (Re-encoding alone changes the frames by about 4 on average.)
  assert min(drawn[:45] + drawn[75:]) > 20 > 8 > max(drawn[45:75])


def test_malformed_boxes_csv_is_one_line(detection_checkpoint, tmp_path):
  _, _, ckpt = detection_checkpoint
  boxes_csv = tmp_path / "boxes.csv"
  boxes_csv.write_text("good,1,0.1,0.2,0.5,0.9\ngood,x,0.1,0.2,0.5,0.9\n")
  result = run_predict("--checkpoint", ckpt, "--boxes", boxes_csv,
                       tmp_path / "good.mp4")
  assert result.returncode == 1
  assert "Traceback" not in result.stderr
  [error] = [l for l in result.stderr.splitlines() if l.startswith("error")]
  assert error.startswith(f"error: {boxes_csv}:2: expected ")
