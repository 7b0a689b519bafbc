"""BatchNorm's training-mode normalization, statistics per group of clips.

The release normalizes with per-GPU statistics over 8 clips, whatever the
number of GPUs; `group_size` reproduces that on any device count (0 = the whole
global batch, i.e. sync BN). Its gradient is either autodiff through the batch
moments ("native") or the closed form ("fast", `normalize_with_batch_stats`).
"""

import functools

import jax
import jax.numpy as jnp

from slowfast_jax import ops


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


def _normalize(grouped, mean, var, scale, bias, epsilon):
  inv = jax.lax.rsqrt(var + epsilon) * scale
  return (grouped - mean[:, None, :]) * inv[:, None, :] + bias


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
  return _normalize(grouped, mean, var, scale, bias, epsilon)


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


def normalize_in_training(x: jax.Array, scale: jax.Array, bias: jax.Array,
                          group_size: int, epsilon: float, impl: str
                          ) -> tuple[jax.Array, jax.Array, jax.Array]:
  """Normalizes `x` with its own per-group batch moments.

  Args:
    x: `(batch, ..., channels)`, float32.
    scale: `(channels,)`.
    bias: `(channels,)`.
    group_size: clips per statistics group; 0 = the whole batch.
    epsilon: added to the variance.
    impl: "native" (autodiff through the moments) or "fast" (closed-form
      gradient); the same numbers up to float rounding.

  Returns:
    `(y, mean, var)`: `y` shaped as `x`; `mean` and the biased `var`
    `(groups, channels)`, without gradient.
  """
  mean, var = grouped_moments(x, group_size)
  grouped = x.reshape(mean.shape[0], -1, x.shape[-1])
  if impl == "native":
    y = _normalize(grouped, mean, var, scale, bias, epsilon)
  elif impl == "fast":
    # The closed-form gradient accounts for the moments.
    mean, var = jax.lax.stop_gradient((mean, var))
    y = normalize_with_batch_stats(grouped, mean, var, scale, bias, epsilon)
  else:
    raise ops.unknown_impl("BatchNorm", impl)
  return (y.reshape(x.shape), jax.lax.stop_gradient(mean),
          jax.lax.stop_gradient(var))
