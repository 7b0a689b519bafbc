"""Temporal index math and the on-device model input vs the release."""

import random

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from slowfast_jax import config_lib
from slowfast_jax.data import model_input
from slowfast_jax.data import sampling

torch = pytest.importorskip("torch")


def release_clip_indices(video_length, clip_size, start, num_frames):
  """The release's `temporal_sampling` index computation, in torch."""
  end = start + clip_size - 1
  index = torch.linspace(start, end, num_frames)
  return torch.clamp(index, 0, video_length - 1).long().numpy()


def test_clip_size_matches_release_formula():
  assert sampling.clip_size(32, 2, 30, 30) == 64
  assert sampling.clip_size(8, 8, 30, 30) == 64
  assert sampling.clip_size(32, 2, 30, 60) == 128
  assert sampling.clip_size(32, 2, 30, 25) == pytest.approx(2 * 32 / 30 * 25)
  assert sampling.clip_size(1, 1, 30, 10) == 1.0  # max(1, 1/3).


@pytest.mark.parametrize("video_length,start,expected", [
    # 300 frames, 32x2: window 64, linspace step 63/31.
    (300, 0.0, [0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30,
                32, 34, 36, 38, 40, 42, 44, 46, 48, 50, 52, 54, 56, 58, 60,
                63]),
    # Test clip 5 of 10 of a 100-frame video: delta 36, start 18.
    (100, 18.0, [18, 20, 22, 24, 26, 28, 30, 32, 34, 36, 38, 40, 42, 44, 46,
                 48, 50, 52, 54, 56, 58, 60, 62, 64, 66, 68, 70, 72, 74, 76,
                 78, 81]),
    # A 40-frame video is shorter than the window: indices clamp at 39.
    (40, 0.0, [0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32,
               34, 36, 38] + [39] * 12),
])
def test_clip_indices_worked_examples(video_length, start, expected):
  np.testing.assert_array_equal(
      sampling.clip_indices_np(start, 64.0, 32, video_length), expected)
  np.testing.assert_array_equal(
      sampling.clip_indices_tf(start, 64.0, 32, video_length).numpy(),
      expected)
  np.testing.assert_array_equal(
      release_clip_indices(video_length, 64.0, start, 32), expected)


def test_test_window_starts_worked_example():
  # 100 frames, window 64: delta 36, starts 36 * i / 10.
  starts = sampling.test_window_starts(100, 64.0, 10)
  np.testing.assert_allclose(starts, [3.6 * i for i in range(10)])
  assert starts[-1] + 64 - 1 < 99  # The last clip does not reach the end.
  np.testing.assert_array_equal(
      sampling.test_window_starts_tf(100, 64.0, 10).numpy(), starts)
  np.testing.assert_array_equal(sampling.test_window_starts(50, 64.0, 3),
                                [0, 0, 0])


def _cases():
  rng = random.Random(0)
  for length in range(1, 420, 11):
    for num_frames, rate in [(32, 2), (8, 8), (4, 16), (64, 2), (16, 2),
                             (8, 4), (12, 3)]:
      window = sampling.clip_size(num_frames, rate, 30, 30)
      for start in sampling.test_window_starts(length, window, 10):
        yield length, window, float(start), num_frames
      delta = max(length - window, 0)
      yield length, window, rng.uniform(0, delta), num_frames


def test_clip_indices_equal_torch_on_many_windows():
  # torch.linspace's float32 truncation disagrees with exact arithmetic on a
  # few percent of these windows; the indices must be torch's exactly.
  mismatches = []
  count = 0
  for length, window, start, num_frames in _cases():
    expected = release_clip_indices(length, window, start, num_frames)
    ours_np = sampling.clip_indices_np(start, window, num_frames, length)
    ours_tf = sampling.clip_indices_tf(start, window, num_frames,
                                       length).numpy()
    count += 1
    if not (np.array_equal(ours_np, expected) and
            np.array_equal(ours_tf, expected)):
      mismatches.append((length, window, start, num_frames))
  assert count > 500
  assert not mismatches, mismatches[:5]


@pytest.mark.parametrize("num_frames,alpha,expected", [
    (32, 4, [0, 4, 8, 13, 17, 22, 26, 31]),
    (32, 8, [0, 10, 20, 31]),
    (64, 4, [0, 4, 8, 12, 16, 21, 25, 29, 33, 37, 42, 46, 50, 54, 58, 63]),
])
def test_slow_pathway_indices_release_examples(num_frames, alpha, expected):
  np.testing.assert_array_equal(
      sampling.slow_pathway_indices(num_frames, alpha), expected)


def test_slow_pathway_indices_equal_torch():
  for t in range(2, 129):
    for alpha in (1, 2, 3, 4, 5, 8, 16):
      if t // alpha < 1:
        continue
      expected = torch.linspace(0, t - 1, t // alpha).long().numpy()
      np.testing.assert_array_equal(sampling.slow_pathway_indices(t, alpha),
                                    expected, err_msg=f"T={t} alpha={alpha}")


def _configs(arch):
  config = config_lib.kinetics_config(
      config_lib.model_config(arch=arch, num_frames=32, alpha=4))
  config.data.mean = [0.4, 0.45, 0.5]
  config.data.std = [0.2, 0.225, 0.25]
  return config.model, config.data


def test_prepare_pathways_slowfast_split_and_normalization():
  model_config, data_config = _configs("slowfast")
  rng = np.random.default_rng(0)
  video = rng.integers(0, 256, (2, 32, 4, 5, 3), dtype=np.uint8)
  # Tag each frame with its index so the selection is visible.
  video[:, :, 0, 0, 0] = np.arange(32)[None]
  fn = jax.jit(lambda v: model_input.prepare_pathways(v, model_config,
                                                      data_config))
  slow, fast = fn(jnp.asarray(video))
  assert slow.dtype == fast.dtype == jnp.float32
  assert fast.shape == (2, 32, 4, 5, 3) and slow.shape == (2, 8, 4, 5, 3)
  expected = (video / 255.0 - np.array(data_config.mean)) / np.array(
      data_config.std)
  np.testing.assert_allclose(fast, expected, rtol=1e-5, atol=1e-5)
  frame_ids = np.round((np.asarray(slow[0, :, 0, 0, 0]) * 0.2 + 0.4) * 255)
  np.testing.assert_array_equal(frame_ids, [0, 4, 8, 13, 17, 22, 26, 31])
  np.testing.assert_allclose(slow, expected[:, [0, 4, 8, 13, 17, 22, 26, 31]],
                             rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("arch", ["slow", "c2d", "i3d"])
def test_prepare_pathways_single_pathway(arch):
  model_config, data_config = _configs(arch)
  video = np.full((1, 8, 3, 3, 3), 255, np.uint8)
  (clip,) = model_input.prepare_pathways(jnp.asarray(video), model_config,
                                         data_config)
  assert clip.shape == (1, 8, 3, 3, 3)
  np.testing.assert_allclose(clip[0, 0, 0, 0], (1 - np.array([0.4, 0.45, 0.5]))
                             / np.array([0.2, 0.225, 0.25]), rtol=1e-6)
