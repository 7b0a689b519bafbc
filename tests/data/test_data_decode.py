"""PyAV decoding: frame rate resampling, resizing, clear errors."""

import os

import numpy as np
import pytest

from slowfast_jax.data import decode
from data_fixtures import frame_numbers
from data_fixtures import GOOD_VIDEOS
from data_fixtures import video_tree  # pylint: disable=unused-import
from data_fixtures import write_counter_video


@pytest.mark.parametrize("name", sorted(GOOD_VIDEOS))
def test_frame_count_after_resampling_to_30fps(video_tree, name):
  root, _ = video_tree
  fps, seconds, height, width, _ = GOOD_VIDEOS[name]
  frames = decode.decode_video(os.path.join(root, name), fps=30,
                               short_side=None)
  assert frames.dtype == np.uint8
  assert frames.shape[1:] == (height, width, 3)
  source_frames = round(fps * seconds)
  assert abs(len(frames) - source_frames / fps * 30) <= 1


@pytest.mark.parametrize("source_fps", [25, 60])
def test_resampling_picks_the_nearest_source_frame(tmp_path, source_fps):
  path = str(tmp_path / f"v{source_fps}.mp4")
  write_counter_video(path, source_fps, 1.0, 32, 48)
  frames = decode.decode_video(path, fps=30, short_side=None)
  assert len(frames) == 30
  expected = np.round(np.arange(30) * source_fps / 30 - 1e-9)
  # Nearest frame in time (ties to the earlier one); the drawn numbers
  # survive H.264 within about one grey step.
  np.testing.assert_allclose(frame_numbers(frames), expected, atol=1)


def test_no_resampling_keeps_every_frame(video_tree):
  root, _ = video_tree
  frames = decode.decode_video(os.path.join(root, "b/v60.mp4"), fps=None,
                               short_side=None)
  assert len(frames) == 90


@pytest.mark.parametrize("name,short_side,shape", [
    ("a/v25.mp4", 32, (32, 42)),  # 48x64: long side floor(64/48*32) = 42.
    ("a/v30.mp4", 32, (42, 32)),  # Portrait 64x48.
    ("b/v60.mp4", 20, (20, 36)),
    ("a/v25.mp4", 48, (48, 64)),  # Already that size.
    ("a/v25.mp4", 96, (96, 128)),  # Upscaled.
])
def test_short_side_resize(video_tree, name, short_side, shape):
  root, _ = video_tree
  frames = decode.decode_video(os.path.join(root, name), fps=30,
                               short_side=short_side)
  assert frames.shape[1:3] == shape


@pytest.mark.parametrize("name,reason", [
    ("bad/zero.mp4", "empty file"),
    ("bad/text.mp4", "cannot open"),
    ("bad/corrupt.mp4", "cannot open"),
    ("bad/truncated.mp4", ""),
    ("bad/audio_only.mp4", "no video stream"),
    ("bad/missing.mp4", "file not found"),
])
def test_bad_files_raise_an_error_naming_the_file(video_tree, name, reason):
  root, _ = video_tree
  path = os.path.join(root, name)
  with pytest.raises(decode.VideoDecodeError) as info:
    decode.decode_video(path)
  assert str(info.value).startswith(path)
  assert reason in info.value.reason
