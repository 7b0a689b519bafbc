r"""Exports a checkpoint's serving function as ONNX, SavedModel or StableHLO.

  python -m slowfast_jax.export --checkpoint DIR --format onnx|savedmodel|stablehlo --out PATH \
      [--batch N | --dynamic-batch] [--top-k 5]

The exported function takes uint8 frames `(batch, num_frames, crop, crop, 3)`
(`config.model.num_frames`, `config.data.test_crop_size`), normalizes them
and splits the pathways inside, and returns the release's test output
`probabilities` `(batch, classes)` and `top_k_indices` `(batch, k)`. The
network is exported with `conv_impl="native"` (standard convolutions). ONNX
and SavedModel need `pip install -r requirements-export.txt` (see
docs/export.md).
"""

from absl import app
from absl import flags
from absl import logging

from slowfast_jax import checkpoint_flags
from slowfast_jax.export import FORMATS

_FORMAT = flags.DEFINE_enum("format", None, FORMATS, "Export format.")
_OUT = flags.DEFINE_string(
    "out", None, "Output: a .onnx file, a SavedModel directory, or a "
    "StableHLO file.")
_BATCH = flags.DEFINE_integer("batch", 1, "Fixed batch size of the input.")
_DYNAMIC_BATCH = flags.DEFINE_bool(
    "dynamic-batch", False, "Export a symbolic batch dimension (any batch).")
_TOP_K = flags.DEFINE_integer("top-k", 5, "Class indices returned per clip.")
flags.mark_flags_as_required(["format", "out"])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  if _DYNAMIC_BATCH.value and flags.FLAGS["batch"].present:
    raise app.UsageError("Give --batch N or --dynamic-batch, not both.")
  logging.set_verbosity(logging.WARNING)  # orbax and jax2onnx log at INFO.
  # Imported here so `--help` and flag errors are instant.
  from slowfast_jax.export import formats  # pylint: disable=g-import-not-at-top
  from slowfast_jax.export import serving  # pylint: disable=g-import-not-at-top

  config, variables, _ = checkpoint_flags.restore_or_exit()
  batch = None if _DYNAMIC_BATCH.value else _BATCH.value
  path = formats.save(_FORMAT.value, config, variables, _OUT.value,
                      batch=batch, top_k=_TOP_K.value)
  shape = serving.frames_shape(config, "batch" if batch is None else batch)
  print(f"Wrote {path} ({_FORMAT.value}): frames uint8 "
        f"({', '.join(map(str, shape))}) -> probabilities ({shape[0]}, "
        f"{config.model.num_classes}) float32, top_k_indices ({shape[0]}, "
        f"{_TOP_K.value}) int32")


if __name__ == "__main__":
  app.run(main)
