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
_PLOTS = flags.DEFINE_bool("plots", False,
                           "Also write confusion-matrix and per-class PNGs.")
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
  from slowfast_jax import class_names as class_names_lib  # pylint: disable=g-import-not-at-top
  from slowfast_jax import sharding  # pylint: disable=g-import-not-at-top
  from slowfast_jax import validate  # pylint: disable=g-import-not-at-top
  from slowfast_jax.data import pipeline  # pylint: disable=g-import-not-at-top
  from slowfast_jax.evaluation import evaluator  # pylint: disable=g-import-not-at-top
  from slowfast_jax.evaluation import plots  # pylint: disable=g-import-not-at-top
  from slowfast_jax.evaluation import scorer  # pylint: disable=g-import-not-at-top

  sharding.initialize_distributed(auto=_JAX_DISTRIBUTED.value)
  config, variables, metadata = checkpoint_flags.restore()
  validate.validate_eval_data(config)
  split = _SPLIT.value or config.data.test_split
  info = pipeline.dataset_info(config, split)
  num_clips, num_crops = config.eval.num_clips, config.eval.num_crops
  batches = pipeline.make_eval_dataset(
      config, split, num_clips=num_clips, num_crops=num_crops,
      batch_size=config.eval.batch_size, process_index=jax.process_index(),
      process_count=jax.process_count(), random_view=False)
  num_batches = pipeline.num_eval_batches(
      info.num_examples[split], num_clips=num_clips, num_crops=num_crops,
      batch_size=config.eval.batch_size, process_count=jax.process_count())
  mesh = sharding.make_mesh()
  result = evaluator.evaluate(
      scorer.make_scorer(config.model, config.data, mesh),
      sharding.replicate(variables, mesh), batches.as_numpy_iterator(),
      num_classes=config.model.num_classes, num_clips=num_clips,
      num_crops=num_crops, ensemble=config.eval.ensemble,
      num_videos=info.num_examples[split], num_batches=num_batches, mesh=mesh)
  if jax.process_index() == 0:
    output = _OUTPUT.value or checkpoint_flags.CHECKPOINT.value
    path = evaluator.write_results(output, result, extra=dict(
        split=split, checkpoint=checkpoint_flags.CHECKPOINT.value))
    print(json.dumps(result.metrics, indent=2, sort_keys=True))
    print(f"Wrote {path}")
    if _PLOTS.value:
      names = class_names_lib.resolve(config.model.num_classes,
                                      metadata=metadata,
                                      dataset_names=info.class_names)
      for plot in plots.write_plots(output, result.labels, result.scores,
                                    names):
        print(f"Wrote {plot}")


if __name__ == "__main__":
  app.run(main)
