"""RoIAlign (Mask R-CNN) with the semantics of torchvision's `roi_align` kernel.

For box k and output bin (ph, pw), the kernel averages bilinear samples of the
feature map on a regular grid inside the bin:

    start = x1 · scale − offset, end = x2 · scale − offset   (offset 0.5 if
        `aligned`, else 0; likewise for y)
    length = end − start, at least 1 when not `aligned`
    bin = length / out; grid = sampling_ratio if > 0 else ceil(length / out)
    sample i of bin p: start + p · bin + (i + 0.5) · bin / grid
    output = sum of the grid_h × grid_w samples / max(grid_h · grid_w, 1)

A sample at y < −1 or y > height (or x < −1, x > width) is 0; otherwise
negative coordinates are clamped to 0 and a sample past the last row or column
reads that row or column (torchvision's `bilinear_interpolate`). A sample
exactly on −1 or on `size` is a step: there float rounding, which XLA may
reorder, decides.

Bilinear sampling factors into a row weight times a column weight, and so does
the validity rule and the normalisation, so the output is
`rows[k] @ features[b] @ cols[k]ᵀ` per channel, with `rows` `(out, height)`
the sum of the bin's row samples' interpolation weights. Those weights are
summed in a loop over the sample index up to the largest grid of the batch (a
dynamic trip count; the arrays keep static shapes), so every box gets exactly
its own `ceil(length / out)` samples, however large: there is no cap.

torchvision's pure-PyTorch transcription `_roi_align` differs from its kernel
only for samples outside the map: it has no zero rule (it clamps) and caps the
adaptive grid at the map's height and width. For boxes inside the image, as
the release feeds it, all three agree.

Gradients flow to the features (as torchvision's); boxes get none.
"""

import jax
from jax import lax
import jax.numpy as jnp


def _bilinear_weights(positions: jax.Array, size: int) -> jax.Array:
  """Interpolation weights of 1-D sample positions over `size` pixels.

  Args:
    positions: any shape `S`, in feature-map pixels.
    size: pixels along the axis.

  Returns:
    `S + (size,)`: each sample's weights (sum 1, or 0 outside [−1, size]).
  """
  valid = (positions >= -1.0) & (positions <= size)
  positions = jnp.maximum(positions, 0.0)
  low = jnp.floor(positions).astype(jnp.int32)
  at_end = low >= size - 1
  low = jnp.where(at_end, size - 1, low)
  high = jnp.where(at_end, size - 1, low + 1)
  positions = jnp.where(at_end, low.astype(positions.dtype), positions)
  frac = positions - low
  pixels = jnp.arange(size)
  weights = ((1.0 - frac)[..., None] * (pixels == low[..., None])
             + frac[..., None] * (pixels == high[..., None]))
  return jnp.where(valid[..., None], weights, 0.0)


def _axis_weights(low: jax.Array, high: jax.Array, size: int, out: int,
                  spatial_scale: float, sampling_ratio: int,
                  aligned: bool) -> jax.Array:
  """The RoI's weights along one axis, normalised by its sample count.

  Args:
    low, high: box edges `(batch, boxes)` in input pixels (x1, x2 or y1, y2).
    size: feature-map pixels along the axis.
    out: output bins along the axis.

  Returns:
    `(batch, boxes, out, size)`.
  """
  offset = 0.5 if aligned else 0.0
  start = low * spatial_scale - offset
  length = (high * spatial_scale - offset) - start
  if not aligned:
    length = jnp.maximum(length, 1.0)
  bin_size = length / out
  if sampling_ratio > 0:
    grid = jnp.full_like(length, float(sampling_ratio))
  else:
    grid = jnp.ceil(length / out)
  bins = jnp.arange(out, dtype=length.dtype)
  bin_start = start[..., None] + bins * bin_size[..., None]

  def add_sample(i, total):
    offset_in_bin = (i + 0.5) * bin_size / grid
    weights = _bilinear_weights(bin_start + offset_in_bin[..., None], size)
    used = (i < grid)[..., None, None]
    return total + jnp.where(used, weights, 0.0)

  num_samples = jnp.max(grid, initial=0.0).astype(jnp.int32)
  total = lax.fori_loop(0, num_samples, add_sample,
                        jnp.zeros(low.shape + (out, size), length.dtype))
  return total / jnp.maximum(grid, 1.0)[..., None, None]


def roi_align(features: jax.Array, boxes: jax.Array, output_size: int = 7,
              spatial_scale: float = 1.0 / 16, sampling_ratio: int = 0,
              aligned: bool = True) -> jax.Array:
  """RoIAlign of each clip's boxes on its feature map.

  Args:
    features: `(batch, height, width, channels)`.
    boxes: `(batch, boxes, 4)`: x1, y1, x2, y2 in input pixels (the feature
      map's pixels divided by `spatial_scale`), finite. The sample loop runs
      to the largest box's grid, so zero out padding rather than filling it
      with huge values (`DetectionHead` does).
    output_size: bins per side of the output.
    spatial_scale: feature-map pixels per input pixel (1/16 after res4).
    sampling_ratio: samples per bin and axis; 0 = adaptive per box,
      `ceil(box side · spatial_scale / output_size)`.
    aligned: shift the scaled box by −0.5 pixel (Detectron2's alignment);
      False is the legacy RoIAlign, which also makes every box at least
      1×1 feature pixel.

  Returns:
    `(batch, boxes, output_size, output_size, channels)`, in the features'
    dtype.
  """
  if features.ndim != 4 or boxes.ndim != 3 or boxes.shape[-1] != 4:
    raise ValueError(
        f"roi_align takes features (batch, height, width, channels) and boxes "
        f"(batch, boxes, 4); got {features.shape} and {boxes.shape}.")
  if boxes.shape[0] != features.shape[0]:
    raise ValueError(f"boxes {boxes.shape} and features {features.shape} have "
                     "different batch sizes.")
  boxes = lax.stop_gradient(boxes.astype(jnp.float32))
  height, width = features.shape[1:3]
  common = dict(out=output_size, spatial_scale=spatial_scale,
                sampling_ratio=sampling_ratio, aligned=aligned)
  rows = _axis_weights(boxes[..., 1], boxes[..., 3], height, **common)
  cols = _axis_weights(boxes[..., 0], boxes[..., 2], width, **common)
  highest = lax.Precision.HIGHEST  # Exact weights on TPU too.
  per_row = jnp.einsum("bnph,bhwc->bnpwc", rows.astype(features.dtype),
                       features, precision=highest)
  return jnp.einsum("bnqw,bnpwc->bnpqc", cols.astype(features.dtype), per_row,
                    precision=highest)
