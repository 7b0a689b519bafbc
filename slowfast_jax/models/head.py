"""The classification head: pool each pathway, concatenate, classify.

Each pathway is average-pooled with a fixed window sized for the training crop
(stride 1), as in the release. At the training crop the pooled map is 1×1×1;
at a larger test crop (e.g. 256 for a 224 model) it has several positions and
the classifier runs at every one of them (the release's fully-convolutional
test). The head returns the pooled features and the per-position logits; the
reductions over positions are the caller's (`VideoResNet.__call__` and
`slowfast_jax.evaluation.scorer.release_test_scores`).
"""

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from slowfast_jax.ops import avg_pool


def pooled_map(features: jax.Array, window: Sequence[int],
               impl: str) -> jax.Array:
  """Average-pools `(batch, T, H, W, C)` with `window`, stride 1, no padding
  (`impl`: "native" or "fast", `slowfast_jax.ops.avg_pool`)."""
  if any(size < w for size, w in zip(features.shape[1:4], window)):
    raise ValueError(
        f"The head's pooling window {tuple(window)} (time, height, width), "
        f"sized for model.train_crop_size and model.num_frames, is larger "
        f"than the final feature map {features.shape[1:4]}: the input clip is "
        "smaller than the model was configured for.")
  return avg_pool.avg_pool(features, window, impl)


def mean_over_positions(per_position: jax.Array) -> jax.Array:
  """`(batch, t, h, w, channels)` → `(batch, channels)`."""
  return per_position.mean(axis=(1, 2, 3))


class Head(nn.Module):
  """Per-pathway average pool → concat → dropout → Dense, at every position.

  Attributes:
    num_classes: classifier outputs.
    pool_windows: `(time, height, width)` pooling window per pathway.
    dropout_rate: dropout before the classifier, in training only.
    pool_impl: "native" or "fast" (`slowfast_jax.ops.avg_pool`).
  """
  num_classes: int
  pool_windows: Sequence[Sequence[int]]
  dropout_rate: float = 0.5
  pool_impl: str = "native"

  @nn.compact
  def __call__(self, pathway_features: Sequence[jax.Array],
               train: bool = False
               ) -> tuple[list[jax.Array], jax.Array]:
    """Pathway features `(batch, T_p, H, W, C_p)` → (pooled, per-position logits).

    Returns:
      The pooled map of each pathway `(batch, t, h, w, C_p)` (the
      classifier's input, before dropout) and the classifier output at every
      position `(batch, t, h, w, classes)`.
    """
    pooled = [pooled_map(f.astype(jnp.float32), w, self.pool_impl)
              for f, w in zip(pathway_features, self.pool_windows)]
    x = jnp.concatenate(pooled, axis=-1)
    x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
    logits = nn.Dense(self.num_classes,
                      kernel_init=nn.initializers.normal(0.01),
                      name="projection")(x)
    return pooled, logits
