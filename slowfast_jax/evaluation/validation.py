"""In-training validation on `config.data.val_split`, one function per task.

`make_validation(config, source)` returns `validate(score, variables, mesh)
-> metrics`, called by the training loop before each checkpoint it keeps by
its metric (`checkpoint.BEST_METRICS`):

- classification: the evaluator with one view per video (`val_top1`,
  `val_loss`, `val_views`);
- multi-label (`data.multi_label`, Charades): the release's mAP of those
  views' sigmoid scores against the videos' labels (`val_map`, `val_views`);
- detection (`model.detection`, AVA): the release's AVA validation, the
  frame-level mAP of the centre crops of every fourth second against the mini
  ground truth, or every second against the whole ground truth with
  `data.full_test_on_val` (`val_map`, `val_keyframes`). The ground truth is
  read once, when the validation is made.
"""

from typing import Any, Callable

import jax
import ml_collections

from slowfast_jax.evaluation import ava_evaluator
from slowfast_jax.evaluation import evaluator

Validate = Callable[[Callable[..., Any], Any, Any], dict[str, float]]


def make_validation(config: ml_collections.ConfigDict, source) -> Validate:
  """The validation of `config`'s task, reading batches from `source`
  (`data.sources.Source`)."""
  if config.model.detection:
    return _detection_validation(config, source)
  return _classification_validation(config, source)


def _classification_validation(config, source) -> Validate:
  """One view per video: top-1 and loss, or mAP when multi-label."""
  multi_label = bool(config.data.get("multi_label", False))

  def validate(score, variables, mesh) -> dict[str, float]:
    batches = source.make_eval_dataset(
        config, config.data.val_split, num_clips=1, num_crops=1,
        batch_size=config.eval.batch_size, process_index=jax.process_index(),
        process_count=jax.process_count())
    result = evaluator.evaluate(
        score, variables, batches, num_classes=config.model.num_classes,
        num_clips=1, num_crops=1, mesh=mesh, progress=False,
        multi_label=multi_label)
    if multi_label:
      return {"val_map": result.metrics["mean_ap"],
              "val_views": result.metrics["num_views"]}
    return {"val_top1": result.metrics["top1"],
            "val_loss": result.metrics.get("nll", float("nan")),
            "val_views": result.metrics["num_views"]}

  return validate


def _detection_validation(config, source) -> Validate:
  """The centre crops' frame-level mAP against the (mini) ground truth."""
  groundtruth = ava_evaluator.read_ground_truth(config, config.data.val_split)
  if not config.data.full_test_on_val:
    groundtruth = ava_evaluator.mini_ground_truth(groundtruth)

  def validate(score, variables, mesh) -> dict[str, float]:
    batches = source.make_eval_dataset(
        config, config.data.val_split, batch_size=config.eval.batch_size,
        mode="val", process_index=jax.process_index(),
        process_count=jax.process_count())
    result = ava_evaluator.evaluate(score, variables, batches, groundtruth,
                                    mesh=mesh, progress=False)
    return {"val_map": result.metrics["mean_ap"],
            "val_keyframes": result.metrics["num_keyframes"]}

  return validate
