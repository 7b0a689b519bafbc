"""The detection head (the release's `ResNetRoIHead`): one prediction per box.

Per pathway: average over all frames, RoIAlign of each box (7×7 bins at 1/16
of the input resolution, adaptive sampling), max over the 7×7 bins. Then the
pathways are concatenated, dropout applied (in training) and `projection`
gives per-box logits. The release's test output is their sigmoid
(`release_test_scores`).

Boxes come padded to a fixed count per clip, with a mask: every box is pooled
and classified on its own, so padding changes no real box's output; padded
boxes are zeroed before RoIAlign (whatever they held) and get logits 0.
"""

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from slowfast_jax.ops.roi_align import roi_align


def whole_frame_boxes(pathways: Sequence[jax.Array]
                      ) -> tuple[jax.Array, jax.Array]:
  """One box covering the whole frame per clip: `(batch, 1, 4)` and its mask."""
  batch, _, height, width, _ = pathways[0].shape
  boxes = jnp.tile(jnp.asarray([0.0, 0.0, width, height], jnp.float32),
                   (batch, 1, 1))
  return boxes, jnp.ones((batch, 1), bool)


def check_boxes(boxes: jax.Array, box_mask: jax.Array, batch: int) -> None:
  if boxes.ndim != 3 or boxes.shape[0] != batch or boxes.shape[-1] != 4:
    raise ValueError(f"boxes has shape {boxes.shape}; expected (batch={batch}, "
                     "max_boxes, 4): x1, y1, x2, y2 in input pixels.")
  if box_mask.shape != boxes.shape[:2]:
    raise ValueError(f"box_mask has shape {box_mask.shape}; expected "
                     f"{boxes.shape[:2]}, one flag per box.")


class DetectionHead(nn.Module):
  """Per-pathway temporal mean → RoIAlign → 7×7 max → concat → dropout → Dense.

  Attributes:
    num_classes: classifier outputs (sigmoid per class at test).
    dropout_rate: dropout before the classifier, in training only.
    aligned: RoIAlign's −0.5-pixel alignment (release DETECTION.ALIGNED).
    resolution: RoIAlign bins per side (release ROI_XFORM_RESOLUTION).
    spatial_scale_factor: input pixels per feature pixel (release
      SPATIAL_SCALE_FACTOR).
  """
  num_classes: int
  dropout_rate: float = 0.5
  aligned: bool = True
  resolution: int = 7
  spatial_scale_factor: int = 16

  @nn.compact
  def __call__(self, pathway_features: Sequence[jax.Array], boxes: jax.Array,
               box_mask: jax.Array, train: bool = False) -> jax.Array:
    """Features `(batch, T_p, H, W, C_p)`, boxes `(batch, max_boxes, 4)` and
    `box_mask` `(batch, max_boxes)` → logits `(batch, max_boxes, classes)`."""
    check_boxes(boxes, box_mask, pathway_features[0].shape[0])
    box_mask = box_mask.astype(bool)
    boxes = jnp.where(box_mask[..., None], boxes.astype(jnp.float32), 0.0)
    pooled = []
    for features in pathway_features:
      frames_mean = features.astype(jnp.float32).mean(axis=1)
      bins = roi_align(frames_mean, boxes, self.resolution,
                       1.0 / self.spatial_scale_factor, 0, self.aligned)
      pooled.append(bins.max(axis=(2, 3)))
    x = jnp.concatenate(pooled, axis=-1)
    x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
    logits = nn.Dense(self.num_classes,
                      kernel_init=nn.initializers.normal(0.01),
                      name="projection")(x)
    return jnp.where(box_mask[..., None], logits, 0.0)


def release_test_scores(logits: jax.Array) -> jax.Array:
  """The release's eval output per box: the sigmoid of each class's logit."""
  return jax.nn.sigmoid(logits)
