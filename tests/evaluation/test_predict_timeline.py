"""predict --timeline: top classes per window, a chart and an overlay video."""

import fractions
import json
import os
import pathlib
import subprocess
import sys

import av
import numpy as np
from PIL import Image
import pytest

from slowfast_jax.data import synthetic
from slowfast_jax.evaluation import timeline
from slowfast_jax.evaluation import windows

import eval_configs

ROOT = pathlib.Path(__file__).resolve().parents[2]
NAMES = ["moving left", "moving right"]


def turning_video(path, fps=25, num_frames=300, height=64, width=96):
  """A white square moving left for the first half, right for the second."""
  frames = np.zeros((num_frames, height, width, 3), np.uint8)
  half = num_frames // 2
  for t in range(num_frames):
    x = int(round(75 - 0.4 * min(t, half) + 0.4 * max(t - half, 0)))
    frames[t, 26:38, x:x + 12] = 255
  synthetic.write_video(str(path), frames, fps, crf=12)
  return str(path)


def motion_scores(clips):
  """Stand-in model: [left, right] from where the square is in the clip's
  first and last frames `(batch, T, height, width, 3)`; padding rows 0.5."""
  bright = clips[..., 0] > 128
  columns = np.arange(clips.shape[3])
  out = np.full((len(clips), 2), 0.5)
  for i, clip in enumerate(bright):
    if clip[0].any() and clip[-1].any():
      dx = (columns * clip[-1]).sum() / clip[-1].sum() - (
          columns * clip[0]).sum() / clip[0].sum()
      out[i] = [0.9, 0.1] if dx < 0 else [0.1, 0.9]
  return out


@pytest.fixture(scope="module")
def turning(tmp_path_factory):
  """The video and its window scores from the stand-in model."""
  path = turning_video(tmp_path_factory.mktemp("turn") / "turn.mp4")
  spec = windows.WindowSpec(window_frames=16, stride_frames=15.0,
                            clip_frames=8, fps=30.0, short_side=64,
                            crop="full")
  [result] = windows.iter_video_outputs([path], spec, motion_scores,
                                        batch_size=4)
  return path, result


def test_the_change_of_motion_appears_at_the_right_time(turning):
  _, result = turning
  record = timeline.timeline_record(result, NAMES, k=2)
  # 300 frames at 25 fps = 12 s = 360 frames at 30: floor(344 / 15) + 1.
  assert len(record["windows"]) == 23 == result.outputs.shape[0]
  top1 = [w["top"][0]["class"] for w in record["windows"]]
  first_right = top1.index("moving right")
  assert set(top1[:first_right]) == {"moving left"}
  assert set(top1[first_right:]) == {"moving right"}
  centres = [(w["start"] + w["end"]) / 2 for w in record["windows"]]
  turn = int(np.argmin(np.abs(np.array(centres) - 6.0)))  # Turns at 6 s.
  assert abs(first_right - turn) <= 1
  lines = timeline.format_record(record)
  assert lines[0].endswith("(23 windows of 16 frames at 30 fps)")
  assert lines[1] == "  0:00.00-0:00.53  0.900 moving left | 0.100 moving right"
  assert lines[-1].startswith("  0:11.00-0:11.53  0.900 moving right")


def test_nearest_window_follows_the_window_centres(turning):
  _, result = turning
  # Windows [0, 16), [15, 31), ... frames at 30 fps: centres 0.267, 0.767 s.
  index = timeline.nearest_window(np.array([0.0, 0.5, 0.52, 0.6, 100.0]),
                                  result)
  assert index.tolist() == [0, 0, 1, 1, 22]


def test_plot_and_overlay_show_the_timeline(turning, tmp_path):
  path, result = turning
  chart = tmp_path / "timeline.png"
  timeline.plot_timeline(result, NAMES, chart)
  with Image.open(chart) as image:
    assert image.size[0] > image.size[1] > 400
  overlay = str(tmp_path / "overlay.mp4")
  assert timeline.write_overlay(result, NAMES, overlay, k=2) == 300
  with av.open(overlay) as container:
    stream = container.streams.video[0]
    assert stream.average_rate == 25
    frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
  assert len(frames) == 300
  # The label (white text, top left) is drawn; the frame below is untouched.
  assert frames[0][:14, :80].max() > 200 and frames[0][40:, :].max() < 40
  # The label changes with the motion: first and last frames differ there.
  assert np.abs(frames[10][:24, 45:].astype(int) -
                frames[290][:24, 45:]).mean() > 5


def test_predict_timeline_cli_formats(tmp_path):
  ckpt = tmp_path / "ckpt"
  names = [f"class {i}" for i in range(6)]
  eval_configs.save_tiny_checkpoint(ckpt, num_classes=6,
                                    metadata={"class_names": names})
  frames = synthetic.motion_video(np.random.default_rng(0), "left_slow",
                                  height=54, width=70, num_frames=200)
  video = str(tmp_path / "long.mp4")
  synthetic.write_video(video, frames, fractions.Fraction(30000, 1001))
  missing = str(tmp_path / "missing.mp4")
  env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=str(ROOT))
  result = subprocess.run(
      [sys.executable, "-m", "slowfast_jax.predict", "--config",
       str(ROOT / "tests" / "eval_configs.py"), "--checkpoint", str(ckpt),
       "--config.model.num_classes=6", "--timeline", "--json", "--top_k=3",
       "--window-frames", "16", "--stride-seconds", "0.5", "--short-side",
       "32", "--crop-size", "32", "--batch", "4",
       "--plot", str(tmp_path / "t.png"), "--overlay",
       str(tmp_path / "t.mp4"), video, missing],
      cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
  assert result.returncode == 1, result.stderr[-3000:]
  [line] = result.stdout.splitlines()
  record = json.loads(line)
  # 200 frames at 29.97 fps → 200 at 30: floor((200 - 16) / 15) + 1 = 13.
  assert record["video"] == video and record["num_frames"] == 200
  starts = np.arange(13) * 15
  assert [w["start"] for w in record["windows"]] == pytest.approx(starts / 30)
  assert [w["end"] for w in record["windows"]] == pytest.approx(
      (starts + 16) / 30)
  for window in record["windows"]:
    scores = [t["score"] for t in window["top"]]
    assert len(scores) == 3 and scores == sorted(scores, reverse=True)
    assert sum(scores) <= 1 + 1e-6
    assert {t["class"] for t in window["top"]} <= set(names)
  assert f"error: {missing}: file not found" in result.stderr
  # Several videos: each gets the path with its stem inserted.
  with Image.open(tmp_path / "t.long.png") as image:
    assert image.format == "PNG"
  with av.open(str(tmp_path / "t.long.mp4")) as container:
    stream = container.streams.video[0]
    assert stream.average_rate == fractions.Fraction(30000, 1001)
    assert sum(1 for _ in container.decode(stream)) == 200
    assert (stream.height, stream.width) == (54, 70)
