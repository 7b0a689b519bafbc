"""Lateral connections from the Fast pathway into the Slow pathway.

The paper ablates three ways to bring the Fast pathway's `(αT, S², βC)` to the
Slow pathway's `T` frames; the result is concatenated to the Slow features
(Slow first, as in the release).
"""


import flax.linen as nn
import jax
import jax.numpy as jnp

from slowfast_jax.models import layers
from slowfast_jax.models.conv import Conv3D


class TimeStridedConvFusion(layers.ConvBNModule):
  """Conv K×1×1 with stride α and `2βC` outputs, BN, ReLU (the released one)."""
  features: int
  kernel: int
  alpha: int

  @nn.compact
  def __call__(self, fast: jax.Array, train: bool = False) -> jax.Array:
    """`(batch, αT, H, W, βC)` → `(batch, T, H, W, features)`."""
    fused = Conv3D(self.features, (self.kernel, 1, 1), (self.alpha, 1, 1),
                   impl=self.conv_impl, dtype=self.dtype, name="conv")(fast)
    return nn.relu(self.bn(impl=self.conv_impl, name="bn")(fused, train))


def time_to_channel(fast: jax.Array, alpha: int) -> jax.Array:
  """Packs each run of α frames into channels.

  `(batch, αT, H, W, C)` → `(batch, T, H, W, αC)`; channels ordered frame-major.
  """
  batch, frames, height, width, channels = fast.shape
  grouped = fast.reshape(batch, frames // alpha, alpha, height, width, channels)
  grouped = grouped.transpose(0, 1, 3, 4, 2, 5)
  return grouped.reshape(batch, frames // alpha, height, width,
                         alpha * channels)


def time_strided_sample(fast: jax.Array, alpha: int) -> jax.Array:
  """Keeps one frame in every α: `(batch, αT, H, W, C)` → `(batch, T, H, W, C)`."""
  return fast[:, ::alpha]


def fuse_fast_to_slow(slow: jax.Array, fused_fast: jax.Array) -> jax.Array:
  """Concatenates `[slow, fused_fast]` on channels; time and space must agree."""
  if slow.shape[:-1] != fused_fast.shape[:-1]:
    raise ValueError(
        f"Fast→Slow fusion gives shape {fused_fast.shape[:-1]} but the Slow "
        f"pathway has {slow.shape[:-1]} (batch, time, height, width): the Fast "
        "pathway's frames must be α × the Slow pathway's.")
  return jnp.concatenate([slow, fused_fast.astype(slow.dtype)], axis=-1)


def fused_channels(fusion: str, fast_channels: int, alpha: int,
                   conv_channel_ratio: int) -> int:
  """Channels the fusion adds to the Slow pathway."""
  if fusion == "time_strided_conv":
    return fast_channels * conv_channel_ratio
  if fusion == "time_to_channel":
    return fast_channels * alpha
  if fusion == "time_strided_sample":
    return fast_channels
  raise ValueError(f"model.fusion={fusion!r}; expected one of "
                   "'time_strided_conv', 'time_to_channel', "
                   "'time_strided_sample'.")
