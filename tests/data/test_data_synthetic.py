"""The synthetic motion dataset."""

import os
import subprocess
import sys

import av
import numpy as np

from configs import demo
from slowfast_jax.data import builder
from slowfast_jax.data import decode
from slowfast_jax.data import sampling
from slowfast_jax.data import synthetic
from slowfast_jax.data import video_lists

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _displacement(frames, step):
  """How far the texture moved from frame 0 to frame `step`: `(down,
  right)`, each in (-PERIOD/2, PERIOD/2], the exact shift that maps frame 0
  onto frame `step` away from the frame's edges."""
  period = synthetic.PERIOD
  first, later = frames[0].astype(int), frames[step].astype(int)
  target = later[period:, period:]
  matches = [(dy, dx) for dy in range(period) for dx in range(period)
             if np.array_equal(target, first[period - dy:len(first) - dy,
                                             period - dx:first.shape[1] - dx])]
  assert len(matches) == 1, matches
  return tuple(d - period if d > period // 2 else d for d in matches[0])


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


def test_every_generation_decodes_to_the_same_frames(tmp_path):
  # libx264's lossy output varied between runs on the same frames (left and
  # right drifts most); the generator writes losslessly.
  decoded = []
  for run in ("a", "b"):
    synthetic.generate(tmp_path / run, videos_per_class=2,
                       val_videos_per_class=0, height=64, width=64,
                       seconds=1.0)
    decoded.append([decode.decode_video(tmp_path / run / "train" / name /
                                        f"{i:04d}.mp4", fps=None,
                                        short_side=None)
                    for name in synthetic.CLASS_NAMES for i in range(2)])
  for first, second in zip(*decoded):
    np.testing.assert_array_equal(first, second)


def test_lossless_video_decodes_to_its_frames_in_yuv420p(tmp_path):
  frames = synthetic.motion_video(np.random.default_rng(3), "left_fast",
                                  height=64, width=64, num_frames=20)
  synthetic.write_video(tmp_path / "v.mp4", frames, 30.0, crf=0)
  expected = np.stack([
      av.VideoFrame.from_ndarray(f, format="rgb24").reformat(
          format="yuv420p").to_ndarray(format="rgb24") for f in frames])
  np.testing.assert_array_equal(
      decode.decode_video(tmp_path / "v.mp4", fps=None, short_side=None),
      expected)


def test_motion_moves_in_its_direction_at_its_speed():
  rng = np.random.default_rng(0)
  for name in synthetic.CLASS_NAMES:
    for _ in range(3):
      frames = synthetic.motion_video(rng, name, num_frames=60)
      direction, speed = name.split("_")
      dy, dx = synthetic.DIRECTIONS[direction]
      axis = 0 if dy else 1
      period = synthetic.PERIOD
      low, high = synthetic.SPEEDS[speed]
      step = 2 if speed == "fast" else 10  # Under half a period either way.
      shift = _displacement(frames, step)
      moved = shift[axis] * (dy or dx)
      assert low * step * period - 1 <= moved <= high * step * period + 1, (
          name, moved)
      assert shift[1 - axis] == 0, name


def test_diagonal_task_moves_along_both_axes():
  """`--task diagonal`: 8 new classes, the class's step along each axis."""
  names = synthetic.TASKS["diagonal"]
  assert len(names) == 8 and not set(names) & set(synthetic.CLASS_NAMES)
  rng = np.random.default_rng(0)
  for name in names:
    frames = synthetic.motion_video(rng, name, num_frames=60)
    direction, speed = name.split("_")
    step = 2 if speed == "fast" else 10
    low, high = synthetic.SPEEDS[speed]
    shift = _displacement(frames, step)
    for axis, sign in enumerate(synthetic.DIAGONALS[direction]):
      moved = shift[axis] * sign
      assert low * step * synthetic.PERIOD - 1 <= moved <= (
          high * step * synthetic.PERIOD + 1), (name, shift)


def _wrapped(name, gap, fractions):
  """Displacement after `gap` frames in tiles, modulo one tile: [0, 1)."""
  velocities = np.array([synthetic.velocity(name, f) for f in fractions])
  direction = synthetic.DIRECTIONS[name.split("_")[0]]
  axis = 0 if direction[0] else 1
  return (gap * velocities[:, axis] / synthetic.PERIOD) % 1.0


def test_demo_clips_take_every_2nd_frame_and_the_slow_pathway_every_10th():
  config = demo.get_config()
  fast_frames, alpha = config.model.num_frames, config.model.alpha
  window = sampling.clip_size(fast_frames, config.data.sampling_rate,
                              config.data.target_fps, fps=30.0)
  slow = sampling.slow_pathway_indices(fast_frames, alpha)
  for start in np.random.default_rng(0).uniform(0, 28, 2000):
    fast = sampling.clip_indices_np(start, window, fast_frames,
                                    video_length=60)
    assert set(np.diff(fast)) == {2}
    assert set(np.diff(fast[slow])) == {10}


def test_fast_motion_aliases_between_slow_frames_but_not_fast_ones():
  """What the demo's Slow (10 apart) and Fast (2 apart) frames see."""
  fractions = (np.arange(10000) + 0.5) / 10000  # The speed draw, uniform.
  bins = np.linspace(0, 1, 11)
  for right, left in (("right_fast", "left_fast"), ("down_fast", "up_fast")):
    # Where the texture lands 10 frames later: spread evenly over the tile,
    # the same for both directions.
    hist_right = np.histogram(_wrapped(right, 10, fractions), bins)[0]
    hist_left = np.histogram(_wrapped(left, 10, fractions), bins)[0]
    np.testing.assert_allclose(hist_right, len(fractions) / 10, atol=1)
    np.testing.assert_allclose(hist_left, len(fractions) / 10, atol=1)
    # 2 frames later: under half a tile, in its direction.
    assert (_wrapped(right, 2, fractions) < 0.5).all()
    assert (_wrapped(left, 2, fractions) > 0.5).all()
  for name in ("right_slow", "down_slow"):  # Slow motion shows in Slow frames.
    assert (_wrapped(name, 10, fractions) < 0.5).all()


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


def test_ensure_demo_dataset_prepares_once_per_size(tmp_path, monkeypatch):
  sizes = dict(videos_per_class=1, val_videos_per_class=1)
  directory = synthetic.ensure_demo_dataset(
      tmp_path, name="demo_test", short_side=32, workers=1, progress=False,
      **sizes)
  assert directory == builder.version_dir(tmp_path, "demo_test")
  ds_builder = builder.load(tmp_path, "demo_test")
  assert ds_builder.info.splits["train"].num_examples == 8
  assert ds_builder.info.features["label"].names == sorted(
      synthetic.CLASS_NAMES)
  mtimes = {f: os.stat(os.path.join(directory, f)).st_mtime_ns
            for f in os.listdir(directory)}

  generate = synthetic.generate

  def fail(*args, **kwargs):
    raise AssertionError("should not generate or prepare again")

  monkeypatch.setattr(synthetic, "generate", fail)
  assert synthetic.ensure_demo_dataset(tmp_path, name="demo_test",
                                       short_side=32, **sizes) == directory
  assert mtimes == {f: os.stat(os.path.join(directory, f)).st_mtime_ns
                    for f in os.listdir(directory)}

  # Another number of videos (e.g. --config.data.demo_videos_per_class)
  # prepares the dataset again, keeping the videos already generated.
  videos = os.path.join(tmp_path, "demo_test_videos")
  first = os.path.join(videos, "train", synthetic.CLASS_NAMES[0], "0000.mp4")
  first_mtime = os.stat(first).st_mtime_ns
  monkeypatch.setattr(synthetic, "generate", generate)
  synthetic.ensure_demo_dataset(tmp_path, name="demo_test", short_side=32,
                                workers=1, progress=False, videos_per_class=2,
                                val_videos_per_class=1)
  assert builder.split_sizes(directory) == {"train": 16, "val": 8}
  assert os.stat(first).st_mtime_ns == first_mtime
