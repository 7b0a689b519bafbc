"""3D convolution with the release's symmetric padding, native or for CPU.

"native" is one `lax.conv_general_dilated`. "fast" rewrites each kernel shape
of the network as ops XLA:CPU runs well: 2D convolutions over batch·time
(`conv2d`, with its own gradients) and 2D channel matmuls, with the temporal
taps summed afterwards.
"""

from typing import Sequence

import jax
import jax.numpy as jnp
from jax import lax

from slowfast_jax import ops
from slowfast_jax.ops import conv2d

_DIMENSION_NUMBERS = ("NDHWC", "DHWIO", "NDHWC")


def _native(inputs, kernel, strides, dilation=(1, 1, 1)):
  padding = [(d * low, d * high) for d, (low, high) in
             zip(dilation, conv2d.symmetric_padding(kernel.shape[:3]))]
  return lax.conv_general_dilated(inputs, kernel, tuple(strides), padding,
                                  rhs_dilation=tuple(dilation),
                                  dimension_numbers=_DIMENSION_NUMBERS)


def _conv2d_over_frames(inputs, kernel_2d, strides_2d):
  """A 2D conv `(kh, kw, in, out)` applied to every frame (batch·time folded)."""
  batch, frames = inputs.shape[:2]
  outputs = conv2d.conv2d(inputs.reshape(batch * frames, *inputs.shape[2:]),
                          kernel_2d, tuple(strides_2d))
  return outputs.reshape(batch, frames, *outputs.shape[1:])


def _pad_time(x, before, after):
  return jnp.pad(x, [(0, 0), (before, after)] + [(0, 0)] * (x.ndim - 2))


def _spatial_conv(inputs, kernel, strides):
  """1×kh×kw: 2D convolutions over batch·time."""
  return _conv2d_over_frames(inputs, kernel[0], strides[1:])


def _matmul_channels(x, weights):
  """`(..., in) @ (in, out)` as one 2D matrix product.

  XLA:CPU runs a 2D dot on its fast matmul path; a dot with several
  non-contracting (and, in its weight gradient, contracting) dimensions is
  off it.
  """
  flat = x.reshape(-1, x.shape[-1]) @ weights
  return flat.reshape(*x.shape[:-1], weights.shape[-1])


def _pointwise_conv(inputs, kernel, strides):
  """1×1×1: a channel matmul on the strided frames and pixels."""
  strided = inputs[:, ::strides[0], ::strides[1], ::strides[2]]
  return _matmul_channels(strided, kernel[0, 0, 0])


def _temporal_conv(inputs, kernel, strides):
  """kt×1×1 as channel matmuls: the bottlenecks' kt×1×1 and the Fast→Slow
  fusion (stride α in time)."""
  kt, st = kernel.shape[0], strides[0]
  spatial = inputs[:, :, ::strides[1], ::strides[2]]
  if st == 1:
    return _temporal_taps_as_channels(spatial, kernel[:, 0, 0])
  if kt // 2 < st:
    return _temporal_by_phase(spatial, kernel[:, 0, 0], st)
  return _temporal_shifted_matmuls(spatial, kernel[:, 0, 0], st)


# Output width from which a stride-1 kt×1×1 conv's forward runs one matmul per
# tap (Slow res4 and res5): transposing those kernels for one matmul to all
# taps costs XLA:CPU more than the smaller matmuls lose.
PER_TAP_MIN_FEATURES = 128


def _temporal_taps_as_channels(inputs, kernel):
  """Stride 1 in time: one matmul to all kt taps `(in, kt·out)`, then the
  taps shifted in time and summed.

  One matmul with kt·out columns instead of kt matmuls with out columns on
  shifted inputs; its backward has one input matmul instead of kt. Kernels
  at least `PER_TAP_MIN_FEATURES` wide run their forward one tap at a time
  (`_matmul_per_tap`), with this gradient.
  """
  if kernel.shape[2] >= PER_TAP_MIN_FEATURES:
    return _matmul_per_tap(inputs, kernel)
  return _one_matmul_to_all_taps(inputs, kernel)


def _one_matmul_to_all_taps(inputs, kernel):
  kt, cin, cout = kernel.shape
  taps = _matmul_channels(inputs,
                          kernel.transpose(1, 0, 2).reshape(cin, kt * cout))
  return _sum_shifted_taps(jnp.split(taps, kt, axis=-1))


@jax.custom_vjp
def _matmul_per_tap(inputs, kernel):
  """`_one_matmul_to_all_taps` as kt matmuls by `kernel[dt]`: no kernel
  transpose; the gradient is the one matmul's."""
  return _sum_shifted_taps([_matmul_channels(inputs, tap) for tap in kernel])


def _matmul_per_tap_fwd(inputs, kernel):
  return _matmul_per_tap(inputs, kernel), (inputs, kernel)


def _matmul_per_tap_bwd(residuals, output_grad):
  # Only the linear map's transpose is used: XLA drops its forward product.
  return jax.vjp(_one_matmul_to_all_taps, *residuals)[1](output_grad)


_matmul_per_tap.defvjp(_matmul_per_tap_fwd, _matmul_per_tap_bwd)


def _sum_shifted_taps(taps):
  """kt taps `(batch, time, …, out)` per input frame → `(batch, time, …,
  out)`: output frame t sums tap dt of input frame t + dt − kt // 2 (zero
  padding in time).

  Each tap is sliced, then padded: XLA fuses those small pads into the sum,
  where padding the whole taps tensor first makes XLA write it out padded.
  """
  kt, frames = len(taps), taps[0].shape[1]
  shifted = []
  for dt, tap in enumerate(taps):
    shift = dt - kt // 2
    if abs(shift) >= frames:  # Reads only padding.
      continue
    tap = tap[:, max(0, shift):frames + min(0, shift)]
    shifted.append(_pad_time(tap, max(0, -shift), max(0, shift)))
  return sum(shifted[1:], shifted[0])


def _temporal_by_phase(inputs, kernel, stride):
  """Time stride s > kt // 2: the s frames of each block as channels.

  Output frame t reads input frames `s·t + j`, `|j| ≤ kt // 2 < s`: the j ≥ 0
  taps from block t, the j < 0 taps from block t − 1. So one matmul of the
  blocks `(…, s·in)` by `(s·in, 2·out)` gives both, and block t − 1's half is
  shifted by one. It computes (2s / kt)× the conv's multiply-adds (the
  fusions' convs are small) and needs no time-strided copies of the input.
  """
  kt, cin, cout = kernel.shape
  batch, frames, height, width, _ = inputs.shape
  blocks = -(-frames // stride)  # = the conv's output frames.
  # Frames past the end are the conv's zero padding.
  padded = _pad_time(inputs, 0, blocks * stride - frames)
  by_block = padded.reshape(batch, blocks, stride, height, width, cin)
  by_block = by_block.transpose(0, 1, 3, 4, 2, 5).reshape(
      batch, blocks, height, width, stride * cin)
  current = jnp.zeros((stride, cin, cout), kernel.dtype)
  previous = jnp.zeros((stride, cin, cout), kernel.dtype)
  for dt in range(kt):
    offset = dt - kt // 2
    if offset >= 0:
      current = current.at[offset].set(kernel[dt])
    else:
      previous = previous.at[stride + offset].set(kernel[dt])
  weights = jnp.concatenate([current.reshape(stride * cin, cout),
                             previous.reshape(stride * cin, cout)], axis=1)
  both = _matmul_channels(by_block, weights)
  from_previous = _pad_time(both[:, :blocks - 1, ..., cout:], 1, 0)
  return both[..., :cout] + from_previous


def _temporal_shifted_matmuls(inputs, kernel, stride):
  """Any kt and stride: a sum of kt time-shifted, time-strided matmuls."""
  kt = kernel.shape[0]
  frames = (inputs.shape[1] + 2 * (kt // 2) - kt) // stride + 1
  padded = _pad_time(inputs, kt // 2, kt // 2)
  return sum(
      _matmul_channels(padded[:, dt:dt + stride * (frames - 1) + 1:stride],
                       kernel[dt])
      for dt in range(kt))


def _spatiotemporal_conv(inputs, kernel, strides):
  """kt×kh×kw, stride 1 in time: one 2D conv per frame that produces all kt
  temporal taps as channels, then a sum of the taps shifted in time."""
  kt, kh, kw, cin, cout = kernel.shape
  taps_as_channels = kernel.transpose(1, 2, 3, 0, 4).reshape(kh, kw, cin,
                                                             kt * cout)
  taps = _conv2d_over_frames(inputs, taps_as_channels, strides[1:])
  return _sum_shifted_taps(jnp.split(taps, kt, axis=-1))


def fast_formulation(kernel_shape: Sequence[int], strides: Sequence[int]):
  """The CPU formulation for a kernel `(kt, kh, kw, ...)` and strides, or None.

  1×1×1: a channel matmul; kt×1×1: channel matmuls (`_temporal_conv`);
  1×kh×kw: 2D convolutions over frames; kt×kh×kw: 2D convolutions with the
  temporal taps as output channels. Even kt (no preset has one) and
  time-strided space-time kernels stay native (None).
  """
  kt, kh, kw = kernel_shape[:3]
  if kt % 2 == 0:
    return None
  if (kt, kh, kw) == (1, 1, 1):
    return _pointwise_conv
  if kh == kw == 1:
    return _temporal_conv
  if strides[0] != 1:
    return None
  if kt == 1:
    return _spatial_conv
  return _spatiotemporal_conv


def conv3d(inputs: jax.Array, kernel: jax.Array, strides: Sequence[int],
           impl: str = "native",
           dilation: Sequence[int] = (1, 1, 1)) -> jax.Array:
  """Convolves `(batch, time, height, width, in)` with `(kt, kh, kw, in, out)`.

  Padding is `dilation · (k // 2)` on both sides of every axis, as the
  release's.

  Args:
    inputs: `(batch, time, height, width, in_channels)`.
    kernel: `(kt, kh, kw, in_channels, out_channels)`.
    strides: `(st, sh, sw)`.
    impl: "native" (one `lax.conv_general_dilated`) or "fast" (the
      formulation `fast_formulation` picks for this kernel shape; the same
      numbers up to float rounding).
    dilation: `(dt, dh, dw)` kernel dilation; dilated convolutions (res5 of
      the detection models) are always native.

  Returns:
    `(batch, time', height', width', out_channels)`.
  """
  if impl == "native" or tuple(dilation) != (1, 1, 1):
    return _native(inputs, kernel, strides, dilation)
  if impl == "fast":
    formulation = fast_formulation(kernel.shape, strides)
    if formulation is None:
      return _native(inputs, kernel, strides)
    return formulation(inputs, kernel, strides)
  raise ops.unknown_impl("conv", impl)
