"""The synthetic motion dataset."""

import os
import subprocess
import sys

import numpy as np

from slowfast_jax.data import builder
from slowfast_jax.data import decode
from slowfast_jax.data import synthetic
from slowfast_jax.data import video_lists

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _displacement(frames, step):
  """The (dy, dx) that maps the patch of frame 0 onto the patch of `step`.

  The background is static, so the per-pixel median over the video (the
  patch covers any pixel less than half the time) recovers it; the patch is
  where a frame differs from it. The patch's own texture is periodic, so
  shifts are scored on these solid masks, not on colours.
  """
  background = np.median(frames, axis=0)
  masks = (frames != background).any(-1)
  best, best_score = None, -1
  for dy in range(-10, 11):
    for dx in range(-10, 11):
      moved = np.roll(masks[0], (dy, dx), axis=(0, 1))
      score = (moved & masks[step]).sum()
      if score > best_score:
        best, best_score = (dy, dx), score
  return best


def test_cli_writes_decodable_mp4s_and_lists(tmp_path):
  out = tmp_path / "motion"
  result = subprocess.run(
      [sys.executable, "-m", "slowfast_jax.data.synthetic", "--out", str(out),
       "--videos-per-class", "2", "--val-videos-per-class", "1",
       "--seconds", "1"],
      capture_output=True, text=True, cwd=REPO, check=False,
      env={**os.environ, "PYTHONPATH": REPO})
  assert result.returncode == 0, result.stderr
  train = video_lists.read_list(out / "train.csv")
  val = video_lists.read_list(out / "val.csv")
  assert len(train) == 2 * len(synthetic.CLASS_NAMES)
  assert len(val) == len(synthetic.CLASS_NAMES)
  assert {e.label for e in train} == set(synthetic.CLASS_NAMES)
  for entry in train[:: len(train) // 4]:
    path = out / entry.video_id
    with open(path, "rb") as f:
      assert f.read(12)[4:8] == b"ftyp"  # A real mp4 container.
    frames = decode.decode_video(path, fps=30, short_side=None)
    assert frames.shape[1:] == (64, 80, 3)
    assert abs(len(frames) - 30) <= 3  # 1 s +- 10%.


def test_motion_encodes_direction_and_speed():
  rng = np.random.default_rng(0)
  for name in synthetic.CLASS_NAMES:
    frames = synthetic.motion_video(rng, name, num_frames=60)
    direction, speed = name.split("_")
    dy, dx = synthetic.DIRECTIONS[direction]
    step = synthetic.SPEEDS[speed]
    assert _displacement(frames, 3) == (dy * step * 3, dx * step * 3), name


def test_single_frames_carry_no_class_information():
  # Frame statistics do not depend on the class: per-class means of simple
  # frame features agree within their spread.
  features = {}
  for name in synthetic.CLASS_NAMES:
    rng = np.random.default_rng(1)  # Same draws for every class.
    values = []
    for _ in range(6):
      frame = synthetic.motion_video(rng, name, num_frames=1)[0].astype(float)
      values.append([frame.mean(), frame.std(),
                     np.abs(np.diff(frame, axis=0)).mean(),
                     np.abs(np.diff(frame, axis=1)).mean()])
    features[name] = np.array(values)
  # With the same random draws, first frames are identical across classes.
  first = features[synthetic.CLASS_NAMES[0]]
  for name, values in features.items():
    np.testing.assert_array_equal(values, first, err_msg=name)


def test_ensure_demo_dataset_prepares_once(tmp_path, monkeypatch):
  directory = synthetic.ensure_demo_dataset(
      tmp_path, name="demo_test", videos_per_class=1, val_videos_per_class=1,
      short_side=32, workers=1, progress=False)
  assert directory == builder.version_dir(tmp_path, "demo_test")
  ds_builder = builder.load(tmp_path, "demo_test")
  assert ds_builder.info.splits["train"].num_examples == 8
  assert ds_builder.info.features["label"].names == sorted(
      synthetic.CLASS_NAMES)
  mtimes = {f: os.stat(os.path.join(directory, f)).st_mtime_ns
            for f in os.listdir(directory)}

  def fail(*args, **kwargs):
    raise AssertionError("should not generate or prepare again")

  monkeypatch.setattr(synthetic, "generate", fail)
  assert synthetic.ensure_demo_dataset(tmp_path, name="demo_test") == directory
  assert mtimes == {f: os.stat(os.path.join(directory, f)).st_mtime_ns
                    for f in os.listdir(directory)}
