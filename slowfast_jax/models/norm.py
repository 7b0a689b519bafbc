"""BatchNorm whose training statistics are computed per group of clips.

The release normalizes with per-GPU statistics over 8 clips, whatever the
number of GPUs; `group_size` reproduces that on any device count (0 = the whole
global batch, i.e. sync BN). Names match `flax.linen.BatchNorm`
(`scale`, `bias`; batch_stats `mean`, `var`).
"""

import flax.linen as nn
import jax
import jax.numpy as jnp


def grouped_moments(x: jax.Array, group_size: int) -> tuple[jax.Array, jax.Array]:
  """Per-group mean and biased variance over all axes but channels.

  Args:
    x: `(batch, ..., channels)`.
    group_size: clips per group; 0, or a batch not larger than it, = one group.

  Returns:
    `(mean, var)`, each `(groups, channels)`.
  """
  batch = x.shape[0]
  if group_size <= 0 or batch <= group_size:
    groups = 1
  elif batch % group_size:
    raise ValueError(
        f"BatchNorm group size {group_size} does not divide the batch "
        f"{batch} (model.bn_group_size).")
  else:
    groups = batch // group_size
  grouped = x.reshape(groups, -1, x.shape[-1])
  mean = jnp.mean(grouped, axis=1)
  var = jnp.mean(jnp.square(grouped - mean[:, None, :]), axis=1)
  return mean, var


class BatchNorm(nn.Module):
  """BatchNorm over `(batch, ..., channels)` with grouped training statistics.

  Attributes:
    momentum: Flax convention (running = momentum·running + (1−momentum)·new);
      the release's PyTorch momentum 0.1 is 0.9 here.
    epsilon: added to the variance.
    group_size: clips per statistics group in training; 0 = whole batch.
    scale_init: `zeros` for the last BN of a residual branch (the release's
      zero-init of each block's final BN).
    dtype: output dtype; statistics are always float32.
  """
  momentum: float = 0.9
  epsilon: float = 1e-5
  group_size: int = 0
  scale_init: nn.initializers.Initializer = nn.initializers.ones
  dtype: jnp.dtype = jnp.float32

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
    if train:
      mean, var = grouped_moments(x32, self.group_size)  # (groups, channels)
      groups = mean.shape[0]
      if not self.is_initializing():
        # PyTorch updates the running variance with the unbiased estimate.
        count = x.size // channels // groups
        unbiased = var * (count / max(count - 1, 1))
        m = self.momentum
        running_mean.value = m * running_mean.value + (1 - m) * mean.mean(0)
        running_var.value = m * running_var.value + (1 - m) * unbiased.mean(0)
      grouped = x32.reshape(groups, -1, channels)
      inv = jax.lax.rsqrt(var + self.epsilon) * scale
      y = (grouped - mean[:, None, :]) * inv[:, None, :] + bias
      y = y.reshape(x.shape)
    else:
      inv = jax.lax.rsqrt(running_var.value + self.epsilon) * scale
      y = (x32 - running_mean.value) * inv + bias
    return y.astype(self.dtype)
