r"""Multi-view testing of a trained or converted checkpoint.

  python eval.py --checkpoint WORKDIR [--split val] [--output OUT] [--plots]
  python eval.py --checkpoint CONVERTED --config.data.data_dir=DATA
  python eval.py --checkpoint DIR --config configs/slowfast_8x8_r50.py \
      --config.data.data_dir=DATA

The config stored with the checkpoint is used (a converted checkpoint's: its
preset with the stored model); `--config.FIELD=VALUE` overrides its fields,
and `--config FILE` replaces it with a config of the same model.

Every view (`config.eval.num_clips` × `config.eval.num_crops`, release: 10 × 3)
of every video of the split is scored; scores are summed per video
(`config.eval.ensemble`), and top-1, top-5 and mean per-class accuracy are
written to `results.json`, with the per-video ids, labels and scores in
`scores.npz`, in `--output` (default: the checkpoint directory).

A multi-label checkpoint (`config.data.multi_label`, the Charades presets) is
tested as the release tests Charades: the sigmoid scores of the views, their
element-wise maximum per video (`config.eval.ensemble = "max"`), and the
release's mAP (`mean_ap`, with `per_class_ap` by class name: null for a class
without a positive video); `--plots` draws `per_class_ap.png`.

A detection checkpoint (`config.model.detection`, the AVA presets) is tested
as the release tests AVA: every keyframe of the split once, the whole frame
at short side `config.data.test_crop_size`, a sigmoid score per box and
class; `results.json` holds the frame-level mAP at IoU 0.5 (`mean_ap`) and
`per_class_ap` of the label map's classes (ground truth, label map and
exclusions as `ava_prepare` copied them), `detections.csv` the detections
in the AVA CSV format, and `--plots` draws `per_class_ap.png`.

Several hosts: `--jax_distributed`, or the environment variables
JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES and JAX_PROCESS_ID. Each host
reads its share of the split; process 0 writes the results.
"""

import json
import sys

from absl import app
from absl import flags

from slowfast_jax import checkpoint_flags

_SPLIT = flags.DEFINE_string("split", None,
                             "Split to test (default: config.data.test_split).")
_OUTPUT = flags.DEFINE_string("output", None,
                              "Where to write results (default: --checkpoint).")
_PLOTS = flags.DEFINE_bool(
    "plots", False, "Also write confusion-matrix and per-class PNGs "
    "(detection: per-class AP).")
_JAX_DISTRIBUTED = flags.DEFINE_bool(
    "jax_distributed", False, "Call jax.distributed.initialize() (pods).")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  # Imported here so `--help` and flag errors are instant.
  from slowfast_jax import checkpoint  # pylint: disable=g-import-not-at-top
  from slowfast_jax import validate  # pylint: disable=g-import-not-at-top
  checkpoint.quiet_library_logs()
  try:
    evaluate()
  except (checkpoint.CheckpointError, validate.ConfigError) as e:
    print(f"error: {e}", file=sys.stderr)  # One line: what and how to fix it.
    sys.exit(1)


def evaluate():
  """Tests `--checkpoint` and writes (and prints) the results."""
  import jax  # pylint: disable=g-import-not-at-top
  from slowfast_jax import sharding  # pylint: disable=g-import-not-at-top
  from slowfast_jax import validate  # pylint: disable=g-import-not-at-top
  from slowfast_jax.evaluation import scorer  # pylint: disable=g-import-not-at-top

  sharding.initialize_distributed(auto=_JAX_DISTRIBUTED.value)
  config, variables, metadata = checkpoint_flags.restore()
  validate.validate_eval_data(config)
  split = _SPLIT.value or config.data.test_split
  mesh = sharding.make_mesh()
  score = scorer.make_scorer(config.model, config.data, mesh)
  variables = sharding.replicate(variables, mesh)
  test = _test_detection if config.model.detection else _test_classification
  metrics, write_results, write_plots = test(config, split, score, variables,
                                             mesh, metadata)
  if jax.process_index() == 0:
    output = _OUTPUT.value or checkpoint_flags.CHECKPOINT.value
    path = write_results(output, dict(
        split=split, checkpoint=checkpoint_flags.CHECKPOINT.value))
    print(json.dumps(metrics, indent=2, sort_keys=True))
    print(f"Wrote {path}")
    if _PLOTS.value:
      for plot in write_plots(output):
        print(f"Wrote {plot}")


def _test_classification(config, split, score, variables, mesh, metadata):
  """Every view of every video of `split`: top-1, top-5, per class.

  Returns the metrics, `write_results(output, extra) -> path` and
  `write_plots(output) -> paths`.
  """
  import jax  # pylint: disable=g-import-not-at-top
  from slowfast_jax import class_names as class_names_lib  # pylint: disable=g-import-not-at-top
  from slowfast_jax.data import pipeline  # pylint: disable=g-import-not-at-top
  from slowfast_jax.evaluation import evaluator  # pylint: disable=g-import-not-at-top
  from slowfast_jax.evaluation import plots  # pylint: disable=g-import-not-at-top

  info = pipeline.dataset_info(config, split)
  num_clips, num_crops = config.eval.num_clips, config.eval.num_crops
  batches = pipeline.make_eval_dataset(
      config, split, num_clips=num_clips, num_crops=num_crops,
      batch_size=config.eval.batch_size, process_index=jax.process_index(),
      process_count=jax.process_count(), random_view=False)
  num_batches = pipeline.num_eval_batches(
      info.num_examples[split], num_clips=num_clips, num_crops=num_crops,
      batch_size=config.eval.batch_size, process_count=jax.process_count())
  multi_label = bool(config.data.get("multi_label", False))
  result = evaluator.evaluate(
      score, variables, batches.as_numpy_iterator(),
      num_classes=config.model.num_classes, num_clips=num_clips,
      num_crops=num_crops, ensemble=config.eval.ensemble,
      num_videos=info.num_examples[split], num_batches=num_batches, mesh=mesh,
      multi_label=multi_label)
  names = class_names_lib.resolve(config.model.num_classes, metadata=metadata,
                                  dataset_names=info.class_names)
  if multi_label:  # AP by class name, as the AVA test reports it.
    result.metrics["per_class_ap"] = dict(
        zip(names, result.metrics["per_class_ap"]))

  def write_plots(output):
    if multi_label:
      return [plots.write_ap_plot(output, result.metrics["per_class_ap"],
                                  metric="AP")]
    return plots.write_plots(output, result.labels, result.scores, names)

  write_results = lambda output, extra: evaluator.write_results(
      output, result, extra)
  return result.metrics, write_results, write_plots


def _test_detection(config, split, score, variables, mesh, metadata):
  """Every keyframe of `split` once (the release's AVA test): mAP. Returns
  as `_test_classification`."""
  del metadata  # The class names are the label map's.
  import jax  # pylint: disable=g-import-not-at-top
  from slowfast_jax.data import ava_pipeline  # pylint: disable=g-import-not-at-top
  from slowfast_jax.evaluation import ava_evaluator  # pylint: disable=g-import-not-at-top
  from slowfast_jax.evaluation import plots  # pylint: disable=g-import-not-at-top

  groundtruth = ava_evaluator.read_ground_truth(config, split)
  hosts = dict(process_index=jax.process_index(),
               process_count=jax.process_count())
  batches = ava_pipeline.make_eval_dataset(
      config, split, batch_size=config.eval.batch_size, **hosts)
  num_batches = ava_pipeline.num_eval_batches(
      config, split, batch_size=config.eval.batch_size,
      process_count=hosts["process_count"])
  result = ava_evaluator.evaluate(score, variables, batches.as_numpy_iterator(),
                                  groundtruth, mesh=mesh,
                                  num_batches=num_batches)
  write_results = lambda output, extra: ava_evaluator.write_results(
      output, result, extra)
  write_plots = lambda output: [plots.write_ap_plot(
      output, result.metrics["per_class_ap"])]
  return result.metrics, write_results, write_plots


if __name__ == "__main__":
  app.run(main)
