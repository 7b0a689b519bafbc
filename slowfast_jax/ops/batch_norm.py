"""BatchNorm whose training statistics are computed per group of clips.

The release normalizes with per-GPU statistics over 8 clips, whatever the
number of GPUs; `group_size` reproduces that on any device count (0 = the whole
global batch, i.e. sync BN). Names match `flax.linen.BatchNorm`
(`scale`, `bias`; batch_stats `mean`, `var`).
"""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp


def num_groups(batch: int, group_size: int) -> int:
  """How many statistics groups a batch of `batch` clips splits into."""
  if group_size <= 0 or batch <= group_size:
    return 1
  if batch % group_size:
    raise ValueError(
        f"BatchNorm group size {group_size} does not divide the batch "
        f"{batch} (model.bn_group_size).")
  return batch // group_size


def grouped_moments(x: jax.Array, group_size: int) -> tuple[jax.Array, jax.Array]:
  """Per-group mean and biased variance over all axes but channels.

  Args:
    x: `(batch, ..., channels)`.
    group_size: clips per group; 0, or a batch not larger than it, = one group.

  Returns:
    `(mean, var)`, each `(groups, channels)`.
  """
  grouped = x.reshape(num_groups(x.shape[0], group_size), -1, x.shape[-1])
  mean = jnp.mean(grouped, axis=1)
  var = jnp.mean(jnp.square(grouped - mean[:, None, :]), axis=1)
  return mean, var


@functools.partial(jax.custom_vjp, nondiff_argnums=(5,))
def normalize_with_batch_stats(grouped: jax.Array, mean: jax.Array,
                               var: jax.Array, scale: jax.Array,
                               bias: jax.Array, epsilon: float) -> jax.Array:
  """`(x − mean)·rsqrt(var + ε)·scale + bias` where mean, var are x's moments.

  The gradient is the closed form of BatchNorm's (through the moments too),
  which needs two per-channel sums of the cotangent where autodiff of the
  moments chains several passes over the activations. `mean` and `var` must
  be `grouped_moments` of `grouped`; they get no cotangent of their own.

  Args:
    grouped: `(groups, clips·time·height·width, channels)`, float32.
    mean: `(groups, channels)`.
    var: `(groups, channels)`, biased.
    scale: `(channels,)`.
    bias: `(channels,)`.
    epsilon: added to the variance.

  Returns:
    `(groups, clips·time·height·width, channels)`.
  """
  inv = jax.lax.rsqrt(var + epsilon) * scale
  return (grouped - mean[:, None, :]) * inv[:, None, :] + bias


def _normalize_fwd(grouped, mean, var, scale, bias, epsilon):
  y = normalize_with_batch_stats(grouped, mean, var, scale, bias, epsilon)
  return y, (grouped, mean, jax.lax.rsqrt(var + epsilon), scale)


def _normalize_bwd(epsilon, residuals, dy):
  del epsilon
  grouped, mean, inv_std, scale = residuals
  count = grouped.shape[1]
  normalized = (grouped - mean[:, None, :]) * inv_std[:, None, :]
  sum_dy = jnp.sum(dy, axis=1)  # (groups, channels)
  sum_dy_normalized = jnp.sum(dy * normalized, axis=1)
  dx = (inv_std * scale)[:, None, :] * (
      dy - (sum_dy[:, None, :] + normalized * sum_dy_normalized[:, None, :])
      / count)
  return (dx, jnp.zeros_like(mean), jnp.zeros_like(inv_std),
          jnp.sum(sum_dy_normalized, axis=0), jnp.sum(sum_dy, axis=0))


normalize_with_batch_stats.defvjp(_normalize_fwd, _normalize_bwd)


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
      # The moments carry no gradient of their own: the closed-form gradient
      # of normalize_with_batch_stats accounts for them.
      mean, var = jax.lax.stop_gradient(
          grouped_moments(x32, self.group_size))  # (groups, channels)
      groups = mean.shape[0]
      if not self.is_initializing():
        # PyTorch updates the running variance with the unbiased estimate.
        count = x.size // channels // groups
        unbiased = var * (count / max(count - 1, 1))
        m = self.momentum
        running_mean.value = m * running_mean.value + (1 - m) * mean.mean(0)
        running_var.value = m * running_var.value + (1 - m) * unbiased.mean(0)
      y = normalize_with_batch_stats(x32.reshape(groups, -1, channels), mean,
                                     var, scale, bias, self.epsilon)
      y = y.reshape(x.shape)
    else:
      inv = jax.lax.rsqrt(running_var.value + self.epsilon) * scale
      y = (x32 - running_mean.value) * inv + bias
    return y.astype(self.dtype)
