r"""The training crop's resize on one CPU core: this project vs alternatives.

  python bench/resize.py [--repeats 10]    # torch: requirements-dev.txt

One SlowFast 8x8 training clip: 32 frames of 320x426, short side scaled to
288 (383 wide), a 224 crop. Compared, all on one thread:

* `transforms.resize_and_crop` (OpenCV `cv2.resize`, float32 frames), what
  the input pipeline runs;
* `tf.image.resize` (bilinear, no antialiasing) of whole frames, then the
  crop;
* the release's `F.interpolate` (bilinear, align_corners=False) on float
  frames, then the crop.

Prints milliseconds per clip (median) and the largest difference from the
release's floats.
"""

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

FRAMES, HEIGHT, WIDTH = 32, 320, 426
NEW_H, NEW_W, Y, X, CROP = 288, 383, 30, 100, 224


def median_ms(fn, repeats):
  fn()  # Warm up (tracing, allocation).
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return 1e3 * float(np.median(times))


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--repeats", type=int, default=10)
  args = parser.parse_args()
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
  # pylint: disable=g-import-not-at-top
  import cv2
  import tensorflow as tf
  import torch
  from slowfast_jax.data import transforms
  cv2.setNumThreads(1)
  torch.set_num_threads(1)
  tf.config.threading.set_intra_op_parallelism_threads(1)
  tf.config.threading.set_inter_op_parallelism_threads(1)

  rng = np.random.default_rng(0)
  clip = rng.integers(0, 256, (FRAMES, HEIGHT, WIDTH, 3), dtype=np.uint8)
  clip_tf = tf.constant(clip)

  def release():
    frames = torch.from_numpy(clip).permute(0, 3, 1, 2).float()
    frames = torch.nn.functional.interpolate(
        frames, size=(NEW_H, NEW_W), mode="bilinear", align_corners=False)
    return frames[:, :, Y:Y + CROP, X:X + CROP].permute(0, 2, 3, 1).numpy()

  project = tf.function(lambda c: transforms.resize_and_crop(
      c, [NEW_H, NEW_W], [Y, X], [CROP, CROP]))
  tf_resize = tf.function(lambda c: tf.cast(tf.image.resize(
      c, [NEW_H, NEW_W], method="bilinear", antialias=False)[
          :, Y:Y + CROP, X:X + CROP] + 0.5, tf.uint8))

  reference = release()
  rows = [
      ("transforms.resize_and_crop (cv2)", lambda: project(clip_tf).numpy()),
      ("tf.image.resize, then crop", lambda: tf_resize(clip_tf).numpy()),
      ("release F.interpolate, then crop", release),
  ]
  print(f"{FRAMES} frames {WIDTH}x{HEIGHT} -> {NEW_W}x{NEW_H}, crop {CROP}, "
        "one thread")
  print(f"{'resize':36s} {'ms/clip':>8s} {'max |diff| vs release':>22s}")
  for label, fn in rows:
    diff = np.abs(fn().astype(np.float64) - reference).max()
    print(f"{label:36s} {median_ms(fn, args.repeats):8.1f} {diff:22.3f}")


if __name__ == "__main__":
  main()
