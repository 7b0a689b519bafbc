"""BatchNorm whose training statistics are computed per group of clips.

Names match `flax.linen.BatchNorm` (`scale`, `bias`; batch_stats `mean`,
`var`). The training-mode normalization is `slowfast_jax.ops.batch_norm`'s.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp

from slowfast_jax import ops
from slowfast_jax.ops import batch_norm


class BatchNorm(nn.Module):
  """BatchNorm over `(batch, ..., channels)` with grouped training statistics.

  Attributes:
    momentum: Flax convention (running = momentum·running + (1−momentum)·new);
      the release's PyTorch momentum 0.1 is 0.9 here.
    epsilon: added to the variance.
    group_size: clips per statistics group in training (release: 8 per GPU,
      whatever the number of GPUs); 0 = whole batch (sync BN).
    scale_init: `zeros` for the last BN of a residual branch (the release's
      zero-init of each block's final BN).
    impl: "auto", "native" or "fast" (the training gradient), see
      `slowfast_jax.ops.resolve`.
    dtype: output dtype; statistics are always float32.
    frozen: in training too, normalize with the running statistics and leave
      them unchanged, as at test time (the release's MODEL.FROZEN_BN); `scale`
      and `bias` still get gradients.
  """
  momentum: float = 0.9
  epsilon: float = 1e-5
  group_size: int = 0
  scale_init: nn.initializers.Initializer = nn.initializers.ones
  impl: str = "auto"
  dtype: jnp.dtype = jnp.float32
  frozen: bool = False

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    channels = x.shape[-1]
    scale = self.param("scale", self.scale_init, (channels,), jnp.float32)
    bias = self.param("bias", nn.initializers.zeros, (channels,), jnp.float32)
    running_mean = self.variable("batch_stats", "mean",
                                 lambda: jnp.zeros((channels,), jnp.float32))
    running_var = self.variable("batch_stats", "var",
                                lambda: jnp.ones((channels,), jnp.float32))
    x32 = x.astype(jnp.float32)
    if train and not self.frozen:
      y, mean, var = batch_norm.normalize_in_training(
          x32, scale, bias, self.group_size, self.epsilon,
          ops.resolve(self.impl))  # mean, var: (groups, channels)
      if not self.is_initializing():
        # PyTorch updates the running variance with the unbiased estimate.
        count = x.size // channels // mean.shape[0]
        unbiased = var * (count / max(count - 1, 1))
        m = self.momentum
        running_mean.value = m * running_mean.value + (1 - m) * mean.mean(0)
        running_var.value = m * running_var.value + (1 - m) * unbiased.mean(0)
    else:
      inv = jax.lax.rsqrt(running_var.value + self.epsilon) * scale
      y = (x32 - running_mean.value) * inv + bias
    return y.astype(self.dtype)
