"""2D convolution (NHWC, padding `k // 2`) with gradients XLA:CPU runs fast.

XLA's own input gradient of a convolution is a convolution with a reversed
window, and for stride s one over an s-dilated output gradient; XLA:CPU runs
both off its fast path. Here the input gradient is written as plain stride-1
convolutions instead: for stride 1, the output gradient convolved with the
flipped, transposed kernel; for stride s, one small convolution per output
phase (the sub-pixel decomposition: input row `s·m + r` only receives the
kernel taps `t` with `(r + pad - t) % s == 0`), interleaved.

XLA's weight gradient is a convolution with the output gradient as a huge
dilated window; XLA:CPU runs it slowly on the stems (3 input channels, 7×7)
and, in a whole model, transposes every 3×3 conv's input for it. It is
written as im2col instead, a few frames at a time so that their patches stay
in cache: per chunk, the patches `(kh·kw·in, pixels)` times the output
gradient `(pixels, out)`, summed over chunks in a `lax.scan`.
"""

import functools
from typing import Sequence

import jax
import jax.numpy as jnp
from jax import lax

_DIMENSION_NUMBERS = ("NHWC", "HWIO", "NHWC")


def symmetric_padding(kernel_size: Sequence[int]) -> list[tuple[int, int]]:
  """`k // 2` on both sides of every axis, as PyTorch's `padding=k // 2`.

  Never "SAME": with stride 2 it pads asymmetrically and shifts every value.
  """
  return [(k // 2, k // 2) for k in kernel_size]


def _forward(inputs, kernel, strides):
  return lax.conv_general_dilated(inputs, kernel, tuple(strides),
                                  symmetric_padding(kernel.shape[:2]),
                                  dimension_numbers=_DIMENSION_NUMBERS)


def taps_by_phase(kernel_size: int, stride: int) -> list[list[tuple[int, int]]]:
  """For each phase r < stride: the `(tap, offset)` pairs with
  `input_grad[stride·m + r] += output_grad[m + offset] · kernel[tap]`."""
  pad = kernel_size // 2
  return [[(tap, (phase + pad - tap) // stride)
           for tap in range(kernel_size)
           if (phase + pad - tap) % stride == 0]
          for phase in range(stride)]


def _phase_input_grad(output_grad, kernel_t, taps_h, taps_w, rows, cols):
  """The input gradient at one (row phase, column phase): `rows × cols` pixels.

  `kernel_t` is `(kh, kw, out, in)`. The taps of this phase become a dense
  kernel over their offsets, and a VALID stride-1 conv of the (zero-padded)
  output gradient applies it. A phase no tap reaches (stride > kernel) gets
  zeros.
  """
  if not taps_h or not taps_w:
    return jnp.zeros((output_grad.shape[0], rows, cols, kernel_t.shape[3]),
                     output_grad.dtype)
  offsets_h = [offset for _, offset in taps_h]
  offsets_w = [offset for _, offset in taps_w]
  low_h, low_w = min(offsets_h), min(offsets_w)
  span_h = max(offsets_h) - low_h + 1
  span_w = max(offsets_w) - low_w + 1
  kernel = jnp.zeros((span_h, span_w) + kernel_t.shape[2:], kernel_t.dtype)
  for tap_h, offset_h in taps_h:
    for tap_w, offset_w in taps_w:
      kernel = kernel.at[offset_h - low_h, offset_w - low_w].set(
          kernel_t[tap_h, tap_w])
  # Rows low_h .. low_h + rows + span_h - 2 of the output gradient; zeros
  # outside it.
  height, width = output_grad.shape[1:3]
  before_h, before_w = max(0, -low_h), max(0, -low_w)
  after_h = max(0, low_h + rows + span_h - 1 - height)
  after_w = max(0, low_w + cols + span_w - 1 - width)
  padded = jnp.pad(output_grad, [(0, 0), (before_h, after_h),
                                 (before_w, after_w), (0, 0)])
  start_h, start_w = low_h + before_h, low_w + before_w
  window = padded[:, start_h:start_h + rows + span_h - 1,
                  start_w:start_w + cols + span_w - 1]
  return lax.conv_general_dilated(window, kernel, (1, 1), "VALID",
                                  dimension_numbers=_DIMENSION_NUMBERS)


def input_grad(output_grad, kernel, strides, input_hw):
  """The gradient of `conv2d` with respect to its input.

  Args:
    output_grad: `(batch, out_height, out_width, out_channels)`.
    kernel: `(kh, kw, in_channels, out_channels)`, odd kh and kw.
    strides: `(sh, sw)`.
    input_hw: the input's `(height, width)`.

  Returns:
    `(batch, height, width, in_channels)`.
  """
  kernel_t = jnp.swapaxes(kernel, 2, 3)
  if tuple(strides) == (1, 1):
    return lax.conv_general_dilated(output_grad, kernel_t[::-1, ::-1], (1, 1),
                                    symmetric_padding(kernel.shape[:2]),
                                    dimension_numbers=_DIMENSION_NUMBERS)
  stride_h, stride_w = strides
  height, width = input_hw
  rows, cols = -(-height // stride_h), -(-width // stride_w)
  phase_rows = []
  for taps_h in taps_by_phase(kernel.shape[0], stride_h):
    phase_rows.append(jnp.stack(
        [_phase_input_grad(output_grad, kernel_t, taps_h, taps_w, rows, cols)
         for taps_w in taps_by_phase(kernel.shape[1], stride_w)], axis=3))
  # (batch, rows, stride_h, cols, stride_w, channels) → interleaved pixels.
  grad = jnp.stack(phase_rows, axis=2)
  batch, channels = grad.shape[0], grad.shape[-1]
  grad = grad.reshape(batch, rows * stride_h, cols * stride_w, channels)
  return grad[:, :height, :width]


# Bytes of patches plus input per scan step (8–16 MB ran best on CPU).
CHUNK_BYTES = 16 * 2**20


def _phase_planes(inputs, kernel_size, strides, output_hw):
  """`(N, H, W, C)` → zero-padded planes `(sh, sw, C, N, H'/sh, W'/sw)`.

  Plane `(i % sh, j % sw)` shifted by `(i // sh, j // sw)` is kernel tap
  `(i, j)`'s input at every output pixel: contiguous slices, no strides.
  """
  batch, height, width, channels = inputs.shape
  (kh, kw), (sh, sw) = kernel_size, strides
  rows = sh * (output_hw[0] + (kh - 1) // sh)
  cols = sw * (output_hw[1] + (kw - 1) // sw)
  # The high padding may be negative (a crop): no tap reads those pixels.
  padded = lax.pad(inputs, jnp.zeros((), inputs.dtype),
                   [(0, 0, 0), (kh // 2, rows - height - kh // 2, 0),
                    (kw // 2, cols - width - kw // 2, 0), (0, 0, 0)])
  planes = padded.reshape(batch, rows // sh, sh, cols // sw, sw, channels)
  return planes.transpose(2, 4, 5, 0, 1, 3)


def transposed_patches(inputs, kernel_size, strides, output_hw):
  """im2col: `(N, H, W, C)` → `(kh·kw·C, N·H_out·W_out)`, rows `(i, j, c)`."""
  (kh, kw), (sh, sw) = kernel_size, strides
  out_h, out_w = output_hw
  planes = _phase_planes(inputs, kernel_size, strides, output_hw)
  taps = [planes[i % sh, j % sw, :, :, i // sh:i // sh + out_h,
                 j // sw:j // sw + out_w]
          for i in range(kh) for j in range(kw)]
  return jnp.stack(taps).reshape(kh * kw * inputs.shape[-1], -1)


def _frames_per_chunk(frames, bytes_per_frame, chunk_bytes):
  """The largest divisor of `frames` whose chunk fits in `chunk_bytes` (≥ 1)."""
  fitting = max(1, int(chunk_bytes // bytes_per_frame))
  return max(d for d in range(1, min(frames, fitting) + 1) if frames % d == 0)


def weight_grad(inputs, output_grad, kernel_shape, strides,
                chunk_bytes=CHUNK_BYTES):
  """The gradient of `conv2d` with respect to its kernel `(kh, kw, in, out)`.

  Args:
    inputs: `(batch, height, width, in_channels)`.
    output_grad: `(batch, out_height, out_width, out_channels)`.
    kernel_shape: `(kh, kw, in_channels, out_channels)`.
    strides: `(sh, sw)`.
    chunk_bytes: patches plus input per step of the scan.
  """
  kh, kw, cin, cout = kernel_shape
  batch, out_h, out_w, _ = output_grad.shape
  itemsize = jnp.dtype(inputs.dtype).itemsize
  patch_bytes = kh * kw * cin * out_h * out_w * itemsize
  frames = _frames_per_chunk(
      batch, patch_bytes + inputs[0].size * itemsize, chunk_bytes)
  chunks = (inputs.reshape(batch // frames, frames, *inputs.shape[1:]),
            output_grad.reshape(batch // frames, frames, *output_grad.shape[1:]))

  def add_chunk(total, chunk):
    chunk_inputs, chunk_grad = chunk
    patches = transposed_patches(chunk_inputs, (kh, kw), strides,
                                 (out_h, out_w))
    return total + patches @ chunk_grad.reshape(-1, cout), None

  total, _ = lax.scan(add_chunk, jnp.zeros((kh * kw * cin, cout),
                                           output_grad.dtype), chunks)
  return total.reshape(kernel_shape).astype(inputs.dtype)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def conv2d(inputs: jax.Array, kernel: jax.Array,
           strides: tuple[int, int]) -> jax.Array:
  """`(batch, H, W, in)` * `(kh, kw, in, out)`, padding `k // 2` on each side.

  The same numbers as `lax.conv_general_dilated` (forward and gradients, up
  to float rounding); only the gradients are computed differently.
  """
  return _forward(inputs, kernel, strides)


def _conv2d_fwd(inputs, kernel, strides):
  return _forward(inputs, kernel, strides), (inputs, kernel)


def _conv2d_bwd(strides, residuals, output_grad):
  inputs, kernel = residuals
  return (input_grad(output_grad, kernel, strides, inputs.shape[1:3]),
          weight_grad(inputs, output_grad, kernel.shape, strides))


conv2d.defvjp(_conv2d_fwd, _conv2d_bwd)
