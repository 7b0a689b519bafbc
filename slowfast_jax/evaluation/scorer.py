"""The one scorer: a batch of uint8 views → the release's per-view test scores.

In-training validation, `eval.py`, `predict` and the tools built on them all
score views with `make_scorer`; they differ only in how they batch views and
reduce the scores (`slowfast_jax.evaluation.evaluator` for classification,
`slowfast_jax.evaluation.ava_evaluator` for detection). A detection model
(`model.detection`) scores each box of a view: the batch carries `boxes` and
`box_mask` as well, and `scores` are per box.
"""

from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
from jax.sharding import Mesh
import ml_collections

from slowfast_jax import models
from slowfast_jax import sharding
from slowfast_jax.data import model_input
from slowfast_jax.models import detection_head
from slowfast_jax.ops import xla_cpu

# The field of a batch that holds the views; the scorer replaces it by `scores`.
VIDEO_KEY = "video"
SCORES_KEY = "scores"
# A detection batch's boxes (float32 `(batch, max_boxes, 4)`, x1, y1, x2, y2
# in the view's pixels) and their mask (bool `(batch, max_boxes)`).
BOXES_KEY = "boxes"
BOX_MASK_KEY = "box_mask"


def release_test_scores(per_position_logits: jax.Array,
                        multi_label: bool = False) -> jax.Array:
  """The release's test output: softmax at each position, then the mean.

  Args:
    per_position_logits: `(batch, t, h, w, classes)`, the model's
      `output="per_position_logits"`.
    multi_label: the sigmoid of each class instead of the softmax (release
      MODEL.HEAD_ACT sigmoid, with DATA.MULTI_LABEL in its Charades configs).

  Returns:
    float32 `(batch, classes)` probabilities. At the training crop (one
    position) this is the softmax (sigmoid) of the logits.
  """
  logits = per_position_logits.astype(jnp.float32)
  if multi_label:
    probabilities = jax.nn.sigmoid(logits)
  else:
    probabilities = jax.nn.softmax(logits, -1)
  return probabilities.mean(axis=(1, 2, 3))


def view_outputs(model: models.VideoResNet, variables: Any,
                 video: jax.Array, model_config: ml_collections.ConfigDict,
                 data_config: ml_collections.ConfigDict,
                 output: str) -> Any:
  """uint8 views `(batch, time, height, width, 3)` → the model's `output`.

  Normalizes, splits the pathways and runs the model in eval mode; `output`
  is `VideoResNet`'s ("logits", "per_position_logits" or "features").
  """
  pathways = model_input.prepare_pathways(video, model_config, data_config)
  return model.apply(variables, pathways, train=False, output=output)


def view_scores(model: models.VideoResNet, variables: Any,
                video: jax.Array, model_config: ml_collections.ConfigDict,
                data_config: ml_collections.ConfigDict) -> jax.Array:
  """uint8 views `(batch, time, crop, crop, 3)` → scores `(batch, classes)`.

  `view_outputs(..., "per_position_logits")`, then `release_test_scores`
  (sigmoid scores with `data_config.multi_label`).
  """
  return release_test_scores(
      view_outputs(model, variables, video, model_config, data_config,
                   "per_position_logits"),
      multi_label=bool(data_config.get("multi_label", False)))


def box_scores(model: models.VideoResNet, variables: Any, video: jax.Array,
               boxes: jax.Array, box_mask: jax.Array,
               model_config: ml_collections.ConfigDict,
               data_config: ml_collections.ConfigDict) -> jax.Array:
  """uint8 views `(batch, time, height, width, 3)` and their boxes → scores.

  Returns float32 `(batch, max_boxes, classes)`: the release's detection test
  output (the sigmoid of each box's logits); padded boxes score 0.5.
  """
  pathways = model_input.prepare_pathways(video, model_config, data_config)
  logits = model.apply(variables, pathways, train=False, boxes=boxes,
                       box_mask=box_mask)
  return detection_head.release_test_scores(logits)


def make_scorer(model_config: ml_collections.ConfigDict,
                data_config: ml_collections.ConfigDict,
                mesh: Mesh | None = None
                ) -> Callable[[Any, Mapping[str, jax.Array]], dict[str, jax.Array]]:
  """`view_scores` (`box_scores` for a detection model) jitted over `mesh`,
  carrying a batch's other fields along.

  Returns `score(variables, batch) -> batch'`: `batch` holds global arrays
  (`video` uint8 `(batch, time, crop, crop, 3)` split over the mesh's `data`
  axis, plus any `(batch, ...)` fields such as `label`, `mask`, and for a
  detection model `boxes` and `box_mask`); `batch'` has the same fields with
  `video` replaced by `scores` float32 `(batch, classes)`, or `(batch,
  max_boxes, classes)` for a detection model.
  Variables are replicated; outputs are replicated, so every host can read
  every row. `mesh` defaults to all devices.
  """
  mesh = sharding.make_mesh() if mesh is None else mesh
  model = models.build_model(model_config)

  def score(variables, batch):
    out = {k: v for k, v in batch.items() if k != VIDEO_KEY}
    if model_config.detection:
      out[SCORES_KEY] = box_scores(
          model, variables, batch[VIDEO_KEY], batch[BOXES_KEY],
          batch[BOX_MASK_KEY], model_config, data_config)
    else:
      out[SCORES_KEY] = view_scores(model, variables, batch[VIDEO_KEY],
                                    model_config, data_config)
    return out

  return jax.jit(
      score,
      in_shardings=(sharding.replicated(mesh), sharding.data_sharding(mesh)),
      out_shardings=sharding.replicated(mesh),
      compiler_options=xla_cpu.model_compiler_options())
