"""Converts a PyTorch-release checkpoint into an orbax checkpoint directory.

  python -m slowfast_jax.convert --config configs/slowfast_8x8_r50.py \\
      --checkpoint SLOWFAST_8x8_R50.pkl --output /tmp/slowfast_8x8_r50

The format (PySlowFast `.pyth`, Caffe2 `.pkl`, pytorchvideo state dict) is
detected from the file's content. The output is step 0 of a directory that
`slowfast_jax.checkpoint.restore_variables` (and eval/fine-tuning) read.
Config fields can be overridden as usual, e.g. `--config.model.num_frames=16`.
"""

import sys

from absl import app
from absl import flags
from absl import logging
from etils import epath
import jax
from ml_collections import config_flags

from slowfast_jax import checkpoint
from slowfast_jax import class_names as class_names_lib
from slowfast_jax.convert import formats
from slowfast_jax.convert import load
from slowfast_jax.convert import safe_pickle

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Preset the checkpoint was trained with (configs/NAME.py).")
_CHECKPOINT = flags.DEFINE_string(
    "checkpoint", None, "Checkpoint file: .pyth, Caffe2 .pkl or pytorchvideo.")
_OUTPUT = flags.DEFINE_string("output", None, "Output checkpoint directory.")
_NUM_CLASSES = flags.DEFINE_integer(
    "num-classes", None,
    "Classifier size when it differs from the config's model.num_classes "
    "(e.g. 600 for a Kinetics-600 checkpoint).")
_NEW_HEAD = flags.DEFINE_bool(
    "new-head", False,
    "Drop the checkpoint's classifier and initialize a new one with the "
    "config's (or --num-classes) class count, for fine-tuning.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the new classifier (--new-head).")
_CLASS_NAMES = flags.DEFINE_string(
    "class-names", None, "Text file with one class name per line, in label "
    "order (e.g. kinetics400_classes.txt); stored in the metadata.")
_OVERWRITE = flags.DEFINE_bool(
    "overwrite", False, "Replace the output directory if it is not empty.")


def _read_class_names(path: str, num_classes: int) -> list[str]:
  class_names = class_names_lib.read_labels_file(path)
  if len(class_names) != num_classes:
    raise app.UsageError(f"--class-names has {len(class_names)} names; the "
                         f"model has {num_classes} classes.")
  return class_names


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  logging.set_verbosity(logging.WARNING)  # orbax logs every save step at INFO.
  config = _CONFIG.value
  if config is None or not _CHECKPOINT.value or not _OUTPUT.value:
    raise app.UsageError("--config, --checkpoint and --output are required.")
  output = epath.Path(_OUTPUT.value)
  if output.exists() and any(output.iterdir()) and not _OVERWRITE.value:
    print(f"error: {output} is not empty; pass --overwrite to replace it.",
          file=sys.stderr)
    return 1

  if _NUM_CLASSES.value is not None:
    config.model.num_classes = _NUM_CLASSES.value
  class_names = None
  if _CLASS_NAMES.value:
    class_names = _read_class_names(_CLASS_NAMES.value, config.model.num_classes)
  try:
    variables, report = load.convert_checkpoint(
        _CHECKPOINT.value, config.model,
        head="reinit" if _NEW_HEAD.value else "keep",
        rng=jax.random.key(_SEED.value))
  except (load.CheckpointMismatchError, formats.CheckpointFormatError,
          safe_pickle.UnsafePickleError) as e:
    print(f"error: {e}", file=sys.stderr)  # The message says it all.
    return 1
  print(report.summary())

  metadata = {
      "model": config.model.to_dict(),
      "config_file": config_flags.get_config_filename(flags.FLAGS["config"]),
      "class_names": class_names,
      "source": {
          "path": report.path,
          "format": report.file_format,
          "naming": report.naming,
          "head": report.head,
          "ignored": report.ignored,
          "dropped_head": report.dropped_head,
          "cfg_yaml": report.source_cfg,
      },
  }
  if output.exists() and _OVERWRITE.value:
    output.rmtree()
  checkpoint.save_variables(output, variables, step=0, metadata=metadata)
  print(f"Wrote {output} (step 0: variables, metadata).")


if __name__ == "__main__":
  flags.mark_flags_as_required(["config", "checkpoint", "output"])
  app.run(main)
