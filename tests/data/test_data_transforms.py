"""Spatial transforms vs the release's (PyTorch) definitions."""

import io
import math

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from slowfast_jax.data import transforms
from slowfast_jax.data import views

torch = pytest.importorskip("torch")


def release_short_side_shape(height, width, size):
  """`random_short_side_scale_jitter`'s output size, as the release writes it."""
  if (width <= height and width == size) or (height <= width and
                                             height == size):
    return height, width
  new_width, new_height = size, size
  if width < height:
    new_height = int(math.floor((float(height) / width) * size))
  else:
    new_width = int(math.floor((float(width) / height) * size))
  return new_height, new_width


def release_uniform_crop(images, size, spatial_idx):
  """The release's `uniform_crop` on `(..., height, width, channels)`."""
  height, width = images.shape[-3], images.shape[-2]
  y_offset = int(math.ceil((height - size) / 2))
  x_offset = int(math.ceil((width - size) / 2))
  if height > width:
    if spatial_idx == 0:
      y_offset = 0
    elif spatial_idx == 2:
      y_offset = height - size
  else:
    if spatial_idx == 0:
      x_offset = 0
    elif spatial_idx == 2:
      x_offset = width - size
  return images[..., y_offset:y_offset + size, x_offset:x_offset + size, :]


def torch_resize(clip, height, width):
  x = torch.from_numpy(clip).permute(0, 3, 1, 2).float()
  if (height, width) != tuple(clip.shape[1:3]):
    x = torch.nn.functional.interpolate(x, size=(height, width),
                                        mode="bilinear", align_corners=False)
  return x.permute(0, 2, 3, 1).numpy()


@pytest.mark.parametrize("height,width,size", [
    (320, 426, 256), (320, 426, 320), (426, 320, 288), (256, 256, 300),
    (240, 320, 257), (1080, 1920, 256), (64, 80, 72), (37, 91, 40)])
def test_short_side_resize_shape(height, width, size):
  ours = tuple(int(v) for v in
               transforms.short_side_resize_shape(height, width, size))
  assert ours == release_short_side_shape(height, width, size)


@pytest.mark.parametrize("height,width,sizes", [
    (30, 41, (20, 30, 36, 50)),  # Down, unchanged, up.
    (64, 64, (32, 16)),  # Exactly 2x and 4x down (the demo's).
    (320, 426, (256, 288, 257)),  # Kinetics-like frames, jitter sizes.
])
def test_resize_short_side_matches_torch_interpolate(height, width, sizes):
  rng = np.random.default_rng(0)
  clip = rng.integers(0, 256, (3, height, width, 3), dtype=np.uint8)
  for size in sizes:
    ours = transforms.resize_short_side(clip, size).numpy()
    new_h, new_w = release_short_side_shape(height, width, size)
    reference = torch_resize(clip, new_h, new_w)
    assert ours.shape == reference.shape and ours.dtype == np.uint8
    # Ours is rounded to uint8; the release keeps floats.
    assert np.abs(ours - reference).max() <= 0.51, size


def test_resize_and_crop_equals_resize_then_crop():
  rng = np.random.default_rng(5)
  clip = rng.integers(0, 256, (2, 50, 70, 3), dtype=np.uint8)
  whole = transforms.resize_and_crop(clip, [61, 85], [0, 0], [61, 85])
  part = transforms.resize_and_crop(clip, [61, 85], [7, 19], [40, 33])
  np.testing.assert_array_equal(part.numpy(),
                                whole.numpy()[:, 7:47, 19:52])


@pytest.mark.parametrize("height,width,jitter,crop", [
    (64, 86, (64, 80), 56), (86, 64, (48, 60), 40), (48, 64, (56, 72), 48),
    (40, 40, (40, 40), 40), (90, 60, (40, 50), 32)])
def test_train_augment_equals_release_resize_crop_flip(height, width, jitter,
                                                       crop):
  rng = np.random.default_rng(1)
  clip = rng.integers(0, 256, (4, height, width, 3), dtype=np.uint8)
  for i in range(8):
    seed = tf.constant([i, 3], tf.int64)
    ours = transforms.train_augment(clip, jitter_scales=jitter,
                                    crop_size=crop, flip=True,
                                    seed=seed).numpy()
    assert ours.shape == (4, crop, crop, 3) and ours.dtype == np.uint8
    # The same draws, applied the release's way: resize everything, crop,
    # flip.
    size_seed, crop_seed, flip_seed = tf.unstack(
        tf.random.experimental.stateless_split(seed, 3))
    size = int(transforms.random_jitter_size(*jitter, size_seed))
    new_h, new_w = release_short_side_shape(height, width, size)
    y, x = transforms.random_crop_offsets(new_h, new_w, crop,
                                          crop_seed).numpy()
    reference = torch_resize(clip, new_h, new_w)[:, y:y + crop, x:x + crop]
    if tf.random.stateless_uniform([], seed=flip_seed) < 0.5:
      reference = reference[:, :, ::-1]
    assert np.abs(ours - reference).max() <= 0.51


def test_random_draws_follow_release_ranges():
  sizes, ys = set(), set()
  for i in range(400):
    seed = tf.constant([i, 0], tf.int64)
    sizes.add(int(transforms.random_jitter_size(256, 320, seed)))
    ys.add(int(transforms.random_crop_offsets(230, 300, 224, seed)[0]))
  assert min(sizes) == 256 and max(sizes) == 320
  # randint(0, 230 - 224): 0..5, never the last position 6.
  assert ys == set(range(6))
  assert transforms.random_crop_offsets(224, 224, 224, seed).numpy().tolist(
  ) == [0, 0]


@pytest.mark.parametrize("height,width", [(32, 45), (45, 32), (32, 32),
                                          (33, 64)])
def test_uniform_crops_match_release(height, width):
  rng = np.random.default_rng(2)
  clips = rng.integers(0, 256, (2, 3, height, width, 3), dtype=np.uint8)
  ours = transforms.uniform_crops(clips, crop_size=32, num_crops=3).numpy()
  for spatial_idx in range(3):
    np.testing.assert_array_equal(ours[:, spatial_idx],
                                  release_uniform_crop(clips, 32, spatial_idx))
  centre = transforms.uniform_crops(clips, crop_size=32, num_crops=1).numpy()
  np.testing.assert_array_equal(centre[:, 0],
                                release_uniform_crop(clips, 32, 1))


def _jpegs(frames):
  out = []
  for frame in frames:
    buffer = io.BytesIO()
    Image.fromarray(frame).save(buffer, format="JPEG", quality=90)
    out.append(buffer.getvalue())
  return tf.constant(out)


def test_clip_from_jpegs_equals_clip_from_decoded_frames():
  # The dataset path (decode the sampled JPEGs) and the raw-video path
  # (gather decoded frames) give the same clip for the same seed.
  rng = np.random.default_rng(3)
  base = rng.integers(0, 256, (6, 12, 3)).astype(np.uint8)
  frames = np.stack([
      np.asarray(Image.fromarray(np.roll(base, k, axis=1)).resize(
          (86, 64), Image.Resampling.BICUBIC)) for k in range(20)])
  jpegs = _jpegs(frames)
  decoded = tf.map_fn(lambda s: tf.io.decode_jpeg(s, channels=3), jpegs,
                      fn_output_signature=tf.uint8)
  kwargs = dict(num_frames=8, sampling_rate=2, target_fps=30, fps=30,
                jitter_scales=(40, 64), crop_size=36, flip=True)
  for i in range(6):
    seed = tf.constant([i, 1], tf.int64)
    from_jpeg = views.train_clip(views.jpeg_source(jpegs), seed=seed,
                                 **kwargs)
    from_frames = views.train_clip(views.array_source(decoded), seed=seed,
                                   **kwargs)
    np.testing.assert_array_equal(from_jpeg.numpy(), from_frames.numpy())
