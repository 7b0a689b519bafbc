"""The detection training loss (sigmoid binary cross-entropy over boxes) and
its top-1 metric.

The release trains its AVA models with `MODEL.LOSS_FUNC: bce` and
`HEAD_ACT: sigmoid`: `nn.BCELoss(reduction="mean")` of the head's sigmoid
against the multi-hot labels, averaged over every box and class of the
batch. Here the boxes are padded to a fixed count, so the mean runs over the
real boxes only (`box_mask`), computed from the logits in the numerically
stable form. The two agree while the fp32 sigmoid is not saturated (|logit|
below about 16); beyond that the release's `BCELoss` clamps each log at
-100. The release averages per device and then over devices; this is the
mean over the whole batch, which differs when devices hold different numbers
of boxes.
"""

import jax
import jax.numpy as jnp
import optax


def box_bce_loss(logits: jax.Array, labels: jax.Array,
                 box_mask: jax.Array) -> jax.Array:
  """Mean sigmoid BCE over the real boxes and all classes.

  Args:
    logits: `(batch, max_boxes, classes)`, the detection head's output.
    labels: multi-hot `(batch, max_boxes, classes)`, any numeric dtype.
    box_mask: bool `(batch, max_boxes)`, True for real boxes. Padded slots
      may hold anything (NaN too); they do not reach the loss or its
      gradient.

  Returns:
    A float32 scalar (0 for a batch without boxes).
  """
  mask = box_mask[..., None]
  logits = jnp.where(mask, logits.astype(jnp.float32), 0.0)
  labels = jnp.where(mask, labels.astype(jnp.float32), 0.0)
  per_entry = optax.sigmoid_binary_cross_entropy(logits, labels)
  total = jnp.sum(jnp.where(mask, per_entry, 0.0))
  count = jnp.sum(box_mask.astype(jnp.float32)) * logits.shape[-1]
  return total / jnp.maximum(count, 1.0)


def box_top1(logits: jax.Array, labels: jax.Array,
             box_mask: jax.Array) -> jax.Array:
  """Share of the real boxes with a label whose best class is one of theirs.

  Shapes as in `box_bce_loss`, or any leading axes: `logits` and `labels`
  `(..., classes)`, `box_mask` `(...)` (multi-label clips: `(batch,)`).
  0 for a batch without labelled boxes.
  """
  best = jnp.argmax(logits, axis=-1)
  hit = jnp.take_along_axis(labels, best[..., None], axis=-1)[..., 0] > 0
  counted = box_mask & jnp.any(labels > 0, axis=-1)
  return (jnp.sum(hit & counted) /
          jnp.maximum(jnp.sum(counted), 1)).astype(jnp.float32)
