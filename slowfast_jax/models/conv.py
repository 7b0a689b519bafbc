"""3D convolution with the release's explicit symmetric padding.

All convolutions of the network go through `Conv3D`, so the way a convolution
is computed (`impl`) can be chosen in one place.
"""

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

# The release's Conv3d init (c2_msra_fill): kaiming normal, fan_out, no truncation.
msra_fan_out = nn.initializers.variance_scaling(2.0, "fan_out",
                                                "normal")

_DIMENSION_NUMBERS = ("NDHWC", "DHWIO", "NDHWC")


def symmetric_padding(kernel_size: Sequence[int]) -> list[tuple[int, int]]:
  """`k // 2` on both sides of every axis, as PyTorch's `padding=k // 2`.

  Never "SAME": with stride 2 it pads asymmetrically and shifts every value.
  """
  return [(k // 2, k // 2) for k in kernel_size]


def conv3d(inputs: jax.Array, kernel: jax.Array, strides: Sequence[int],
           impl: str = "native") -> jax.Array:
  """Convolves `(batch, time, height, width, in)` with `(kt, kh, kw, in, out)`.

  Args:
    inputs: `(batch, time, height, width, in_channels)`.
    kernel: `(kt, kh, kw, in_channels, out_channels)`.
    strides: `(st, sh, sw)`.
    impl: "native" (one `lax.conv_general_dilated`); other formulations are
      selected in `resolve_impl`.

  Returns:
    `(batch, time', height', width', out_channels)`.
  """
  padding = symmetric_padding(kernel.shape[:3])
  if impl != "native":
    raise ValueError(f"Unknown conv impl {impl!r}; expected 'native'.")
  return lax.conv_general_dilated(inputs, kernel, tuple(strides), padding,
                                  dimension_numbers=_DIMENSION_NUMBERS)


def resolve_impl(impl: str) -> str:
  """Maps the config's `conv_impl` ("auto", "native", ...) to a concrete one."""
  if impl in ("auto", "native"):
    return "native"
  raise ValueError(f"model.conv_impl={impl!r}; expected 'auto' or 'native'.")


class Conv3D(nn.Module):
  """Conv3d with kernel `(kt, kh, kw, in, out)` and padding `k // 2`.

  Attributes:
    features: output channels.
    kernel_size: `(kt, kh, kw)`.
    strides: `(st, sh, sw)`.
    use_bias: add a bias (only the non-local block's convolutions have one).
    impl: computation strategy, see `resolve_impl`.
    dtype: compute dtype; parameters stay float32.
  """
  features: int
  kernel_size: Sequence[int]
  strides: Sequence[int] = (1, 1, 1)
  use_bias: bool = False
  impl: str = "auto"
  dtype: jnp.dtype = jnp.float32
  kernel_init: nn.initializers.Initializer = msra_fan_out

  @nn.compact
  def __call__(self, inputs: jax.Array) -> jax.Array:
    """`(batch, time, height, width, in)` → `(batch, time', h', w', features)`."""
    kernel = self.param("kernel", self.kernel_init,
                        (*self.kernel_size, inputs.shape[-1], self.features),
                        jnp.float32)
    outputs = conv3d(inputs.astype(self.dtype), kernel.astype(self.dtype),
                     self.strides, resolve_impl(self.impl))
    if self.use_bias:
      bias = self.param("bias", nn.initializers.zeros, (self.features,),
                        jnp.float32)
      outputs = outputs + bias.astype(self.dtype)
    return outputs
