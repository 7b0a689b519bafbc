"""The base of the modules made of convolutions and BatchNorms."""

import dataclasses
import functools

import flax.linen as nn
import jax.numpy as jnp

from slowfast_jax.models.norm import BatchNorm


class ConvBNModule(nn.Module):
  """Keyword-only settings every conv + BatchNorm module passes down.

  Attributes:
    bn: the BatchNorm to use (`BatchNorm` with the model's momentum, epsilon
      and group size bound).
    conv_impl: "auto", "native" or "fast", see `slowfast_jax.ops.resolve`.
    dtype: compute dtype; parameters stay float32.
  """
  _: dataclasses.KW_ONLY
  bn: functools.partial = BatchNorm
  conv_impl: str = "auto"
  dtype: jnp.dtype = jnp.float32
