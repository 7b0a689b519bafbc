r"""Pooled features of sliding windows over videos, one `.npy` per video.

  python -m slowfast_jax.extract --checkpoint DIR --out OUT (VIDEO... | --list FILE) \
      [--window-frames N] [--stride-seconds S | --stride-frames F] [--fps 30] \
      [--crop center|full] [--batch B] [--dtype float32|float16] \
      [--feature concat|slow|fast]

Writes `OUT/NAME.npy` `(windows, dim)` and `OUT/NAME.json` (window start
frames and start/end seconds) per video; see `slowfast_jax.evaluation.features`
and `windows` for the names, the formula and the resume rule. A rerun skips
finished videos. Unreadable files are listed in `OUT/bad_files.tsv`; the exit
status is then 1. On several hosts (`--jax_distributed` or the JAX_*
variables), each host takes its share of the list.
"""

import os
import sys
from typing import Sequence

from absl import app
from absl import flags
from absl import logging

from slowfast_jax import checkpoint_flags
from slowfast_jax.evaluation import window_flags

_OUT = flags.DEFINE_string("out", None, "Output folder.")
_LIST = flags.DEFINE_string(
    "list", None, "File with one video path per line (blank lines and lines "
    "starting with # are skipped).")
_FEATURE = flags.DEFINE_enum(
    "feature", "concat", ["concat", "slow", "fast"],
    "Which pooled feature: both pathways concatenated (the classifier's "
    "input) or one pathway.")
_DTYPE = flags.DEFINE_enum("dtype", "float32", ["float32", "float16"],
                           "Data type of the .npy files.")
_JAX_DISTRIBUTED = flags.DEFINE_bool(
    "jax_distributed", False, "Call jax.distributed.initialize() (pods).")
flags.mark_flags_as_required(["out"])


def read_video_list(path: str) -> list[str]:
  """Video paths of a list file, one per line."""
  with open(path, encoding="utf-8-sig") as f:
    lines = [line.strip() for line in f]
  return [line for line in lines if line and not line.startswith("#")]


def main(argv: Sequence[str]) -> int:
  videos = list(argv[1:])
  if _LIST.value:
    videos += read_video_list(_LIST.value)
  if not videos:
    raise app.UsageError("Give video files or --list FILE.")
  import jax  # pylint: disable=g-import-not-at-top
  from slowfast_jax import sharding  # pylint: disable=g-import-not-at-top
  from slowfast_jax.evaluation import features  # pylint: disable=g-import-not-at-top

  sharding.initialize_distributed(auto=_JAX_DISTRIBUTED.value)
  if window_flags.BATCH.value % jax.local_device_count():
    raise app.UsageError(f"--batch {window_flags.BATCH.value} must be a "
                         f"multiple of the {jax.local_device_count()} local "
                         "devices.")
  config, variables, _ = checkpoint_flags.restore_or_exit()
  spec = window_flags.spec_from_flags(config)
  apply = features.make_feature_fn(config.model, config.data, variables,
                                   feature=_FEATURE.value)
  summary = features.extract(
      videos, _OUT.value, spec, apply, batch_size=window_flags.BATCH.value,
      dtype=_DTYPE.value,
      metadata=dict(feature=_FEATURE.value,
                    checkpoint=os.path.abspath(checkpoint_flags.CHECKPOINT.value)),
      process_index=jax.process_index(), process_count=jax.process_count())
  logging.info("extract: %s", summary)
  print(f"Wrote {len(summary.written)} videos ({summary.windows} windows, "
        f"{summary.seconds:.1f} s), skipped {len(summary.skipped)} already "
        f"written, {len(summary.failed)} bad files.", flush=True)
  for path, reason in summary.failed:
    print(f"error: {path}: {reason}", file=sys.stderr, flush=True)
  return 1 if summary.failed else 0


if __name__ == "__main__":
  app.run(lambda argv: sys.exit(main(argv)))
