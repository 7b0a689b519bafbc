"""`ops.roi_align` against a direct loop over boxes, bins and samples.

The loop follows torchvision's RoIAlign kernel one sample at a time in
float32, on torch tensors so that autograd gives its gradient.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from slowfast_jax.ops.roi_align import roi_align

F32 = np.float32
SCALE = 0.5  # Input pixels are 2 feature pixels here: small maps, big grids.


def _bilinear(feature, y, x):
  """torchvision's `bilinear_interpolate` at one point of `(C, H, W)`."""
  _, height, width = feature.shape
  if y < -1.0 or y > height or x < -1.0 or x > width:
    return torch.zeros(feature.shape[0])
  y, x = max(y, F32(0)), max(x, F32(0))
  y_low, x_low = int(y), int(x)
  if y_low >= height - 1:
    y_high = y_low = height - 1
    y = F32(y_low)
  else:
    y_high = y_low + 1
  if x_low >= width - 1:
    x_high = x_low = width - 1
    x = F32(x_low)
  else:
    x_high = x_low + 1
  ly, lx = F32(y - y_low), F32(x - x_low)
  hy, hx = F32(1) - ly, F32(1) - lx
  return (float(hy * hx) * feature[:, y_low, x_low]
          + float(hy * lx) * feature[:, y_low, x_high]
          + float(ly * hx) * feature[:, y_high, x_low]
          + float(ly * lx) * feature[:, y_high, x_high])


def _axis(low, high, out, sampling_ratio, aligned):
  """(start, bin size, grid) of one box axis, as the kernel computes them."""
  offset = F32(0.5 if aligned else 0.0)
  start = F32(low) * F32(SCALE) - offset
  length = (F32(high) * F32(SCALE) - offset) - start
  if not aligned:
    length = max(length, F32(1))
  grid = sampling_ratio or int(np.ceil(length / F32(out)))
  return start, length / F32(out), grid


def loop_roi_align(features, rois, out, sampling_ratio, aligned):
  """features `(N, C, H, W)` torch; rois `(K, 5)`: batch, x1, y1, x2, y2.

  Returns `(K, C, out, out)`.
  """
  boxes = []
  for batch, x1, y1, x2, y2 in rois:
    start_h, bin_h, grid_h = _axis(y1, y2, out, sampling_ratio, aligned)
    start_w, bin_w, grid_w = _axis(x1, x2, out, sampling_ratio, aligned)
    count = max(grid_h * grid_w, 1)
    bins = []
    for ph in range(out):
      for pw in range(out):
        total = 0.0 * features[int(batch), :, 0, 0]  # Zero, in the graph.
        for iy in range(grid_h):
          y = start_h + F32(ph) * bin_h + F32(iy + 0.5) * bin_h / F32(grid_h)
          for ix in range(grid_w):
            x = start_w + F32(pw) * bin_w + F32(ix + 0.5) * bin_w / F32(grid_w)
            total = total + _bilinear(features[int(batch)], y, x)
        bins.append(total / count)
    boxes.append(torch.stack(bins, -1).reshape(-1, out, out))
  return torch.stack(boxes)


# In input pixels; the 5×6 feature map covers 10×12 of them. No sample lies
# exactly on the −1 / size border, where the result is a step and float
# rounding (which XLA may reorder) decides the side.
BOXES = {
    "tiny": [[3.1, 4.2, 3.5, 4.4], [7.0, 1.0, 7.3, 1.9]],
    "border": [[-1.0, 0.0, 12.0, 10.0], [10.5, 8.7, 12.0, 10.0],
               [-3.9, -2.5, 1.0, 1.0], [0.0, 9.5, 13.9, 11.9]],
    "degenerate": [[4.0, 4.0, 4.0, 4.0], [0.0, 0.0, 0.0, 0.0],
                   [5.0, 2.0, 5.0, 8.0], [12.0, 10.0, 12.0, 10.0]],
    "larger_than_map": [[-20.2, -14.2, 40.2, 30.6], [-2.0, -2.0, 14.0, 12.0],
                        [-31.0, 3.0, 45.0, 6.0]],
}


def _random_boxes(rng, count):
  corners = rng.uniform(-4.0, 16.0, (count, 2, 2))
  return np.concatenate([corners.min(1), corners.max(1)], axis=1)


def _case(kind):
  """features `(2, 5, 6, 3)` and boxes `(2, max_boxes, 4)`, all real."""
  rng = np.random.RandomState(0)
  features = rng.randn(2, 5, 6, 3).astype(F32)
  boxes = (_random_boxes(rng, 12) if kind == "random"
           else np.asarray(BOXES[kind] * 2))
  boxes = boxes.astype(F32).reshape(2, -1, 4)
  return features, boxes


def _rois(boxes):
  """`(batch, max_boxes, 4)` → `(K, 5)` with the batch index first."""
  batch = np.repeat(np.arange(boxes.shape[0]), boxes.shape[1])
  return np.concatenate([batch[:, None], boxes.reshape(-1, 4)], 1).astype(F32)


KINDS = ["tiny", "border", "degenerate", "larger_than_map", "random"]


@pytest.mark.parametrize("sampling_ratio", [0, 2])
@pytest.mark.parametrize("aligned", [False, True])
@pytest.mark.parametrize("kind", KINDS)
def test_forward_and_gradient_equal_the_loop(kind, aligned, sampling_ratio):
  features, boxes = _case(kind)
  out = 7
  cotangent = np.random.RandomState(1).randn(
      *boxes.shape[:2], out, out, features.shape[-1]).astype(F32)

  def forward(f):
    return roi_align(f, jnp.asarray(boxes), out, SCALE, sampling_ratio,
                     aligned)

  result, vjp = jax.vjp(forward, jnp.asarray(features))
  (gradient,) = vjp(jnp.asarray(cotangent))

  torch_features = torch.tensor(features.transpose(0, 3, 1, 2),
                                requires_grad=True)
  expected = loop_roi_align(torch_features, _rois(boxes), out, sampling_ratio,
                            aligned)
  torch_cotangent = torch.tensor(
      cotangent.reshape(-1, out, out, features.shape[-1]).transpose(0, 3, 1, 2))
  (expected * torch_cotangent).sum().backward()

  expected = expected.detach().numpy().transpose(0, 2, 3, 1)
  np.testing.assert_allclose(np.asarray(result).reshape(expected.shape),
                             expected, rtol=0, atol=1e-5)
  np.testing.assert_allclose(np.asarray(gradient),
                             torch_features.grad.numpy().transpose(0, 2, 3, 1),
                             rtol=0, atol=5e-5)


def test_samples_outside_the_map_are_zero_and_degenerate_aligned_is_zero():
  features = np.ones((1, 4, 4, 1), F32)
  outside = [[-40.0, -40.0, -20.0, -20.0], [6.0, 6.0, 6.0, 6.0]]
  result = np.asarray(roi_align(jnp.asarray(features),
                                jnp.asarray([outside], jnp.float32),
                                2, 1.0, 0, aligned=True))
  np.testing.assert_array_equal(result, 0.0)


def test_adaptive_grid_follows_each_box_under_jit():
  """One compiled function, boxes needing 1 and 9 samples per bin side."""
  features, _ = _case("tiny")
  small = np.asarray([[[1.0, 1.0, 3.0, 3.0]]] * 2, F32)
  large = np.asarray([[[-60.0, -60.0, 60.0, 60.0]]] * 2, F32)
  compiled = jax.jit(lambda f, b: roi_align(f, b, 7, SCALE, 0, False))
  for boxes in (small, large):
    expected = loop_roi_align(torch.tensor(features.transpose(0, 3, 1, 2)),
                              _rois(boxes), 7, 0, False)
    np.testing.assert_allclose(
        np.asarray(compiled(features, boxes)).reshape(-1, 7, 7, 3),
        expected.numpy().transpose(0, 2, 3, 1), rtol=0, atol=2e-6)


def test_bad_shapes_raise():
  with pytest.raises(ValueError, match="boxes"):
    roi_align(jnp.zeros((1, 4, 4, 2)), jnp.zeros((1, 4)))
  with pytest.raises(ValueError, match="batch sizes"):
    roi_align(jnp.zeros((2, 4, 4, 2)), jnp.zeros((1, 3, 4)))
