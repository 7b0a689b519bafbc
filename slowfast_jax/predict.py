r"""Top-5 classes of raw video files with the release's multi-view test.

  python -m slowfast_jax.predict --checkpoint DIR video1.mp4 video2.mov \
      [--json] [--labels FILE] [--config configs/NAME.py] [--config.F=V]

Videos are decoded directly with PyAV (any size and frame rate), resampled to
`config.data.target_fps`, and cut into `config.eval.num_clips` ×
`config.eval.num_crops` views exactly as `eval.py` cuts prepared videos; the
softmax scores of the views are summed. Class names come from `--labels`, the
checkpoint's metadata, or (400 classes) the Kinetics-400 names. A file that
cannot be read is reported on one line; the others are still predicted and
the exit status is 1. The config stored with the checkpoint is used unless
`--config` replaces it (as in `eval.py`); a checkpoint that cannot be used is
reported on one line (exit status 1).
"""

import json
import sys
from typing import Any, Sequence

from absl import app
from absl import flags
from ml_collections import config_flags
import numpy as np

from slowfast_jax import stored_config

_CONFIG = config_flags.DEFINE_config_file(
    "config", stored_config.PATH, stored_config.FLAG_HELP, lock_config=True)
_CHECKPOINT = flags.DEFINE_string("checkpoint", None, "Checkpoint directory.")
_STEP = flags.DEFINE_integer("step", None,
                             "Checkpoint step (default: the latest).")
_JSON = flags.DEFINE_bool("json", False, "Print one JSON object per video.")
_LABELS = flags.DEFINE_string(
    "labels", None, "Class names file (one per line, or JSON).")
_TOP_K = flags.DEFINE_integer("top_k", 5, "Classes to print per video.")
flags.mark_flags_as_required(["checkpoint"])


def make_video_scorer(config, variables):
  """`score(views uint8 (views, T, crop, crop, 3)) -> (classes,)` summed scores.

  The evaluator's pieces on one host: `scorer.make_scorer` over the local
  devices, `evaluator.score_host_batch` for the padding.
  """
  from slowfast_jax import sharding  # pylint: disable=g-import-not-at-top
  from slowfast_jax.evaluation import evaluator  # pylint: disable=g-import-not-at-top
  from slowfast_jax.evaluation import scorer  # pylint: disable=g-import-not-at-top

  mesh = sharding.make_mesh()
  score_views = scorer.make_scorer(config.model, config.data, mesh)
  variables = sharding.replicate(variables, mesh)

  def score(views: np.ndarray) -> np.ndarray:
    out = evaluator.score_host_batch(
        score_views, variables,
        {"video": views, "mask": np.ones(len(views), bool)}, mesh)
    return out["scores"][out["mask"]].sum(axis=0)

  return score


def predict_file(path: str, config, score) -> np.ndarray:
  """Summed view scores `(classes,)` of one video file."""
  from slowfast_jax.data import decode  # pylint: disable=g-import-not-at-top
  from slowfast_jax.data import views as views_lib  # pylint: disable=g-import-not-at-top
  num_crops = config.eval.num_crops
  frames = decode.decode_video(
      path, fps=config.data.target_fps,
      short_side=views_lib.test_short_side(config.data, num_crops))
  views = decode.multi_view_clips_for_config(
      frames, config, num_clips=config.eval.num_clips, num_crops=num_crops)
  return score(views)


def top_classes(scores: np.ndarray, names: Sequence[str], k: int
                ) -> list[tuple[str, float]]:
  """The k best `(name, score / views-normalized)` pairs, best first."""
  total = scores.sum()
  order = np.argsort(-scores)[:k]
  return [(names[i], float(scores[i] / total)) for i in order]


def main(argv: Sequence[str]) -> int:
  videos = list(argv[1:])
  if not videos:
    raise app.UsageError("Give one or more video files.")
  from slowfast_jax import checkpoint  # pylint: disable=g-import-not-at-top
  from slowfast_jax import checkpoint_config  # pylint: disable=g-import-not-at-top
  from slowfast_jax import class_names  # pylint: disable=g-import-not-at-top
  from slowfast_jax.evaluation import evaluator  # pylint: disable=g-import-not-at-top
  from slowfast_jax.data import decode  # pylint: disable=g-import-not-at-top

  checkpoint.quiet_library_logs()
  try:
    config, variables, metadata = checkpoint_config.restore_for_inference(
        _CHECKPOINT.value, flags.FLAGS["config"], _STEP.value)
  except checkpoint.CheckpointError as error:
    print(f"error: {error}", file=sys.stderr)
    return 1
  evaluator.check_num_classes(variables, config.model, _CHECKPOINT.value)
  names = class_names.resolve(config.model.num_classes,
                              labels_file=_LABELS.value, metadata=metadata)
  score = make_video_scorer(config, variables)
  failures = 0
  for path in videos:
    try:
      scores = predict_file(path, config, score)
    except (decode.VideoDecodeError, OSError) as error:
      failures += 1
      message = str(error) if path in str(error) else f"{path}: {error}"
      print(f"error: {message}", file=sys.stderr, flush=True)
      continue
    best = top_classes(scores, names, _TOP_K.value)
    if _JSON.value:
      record: dict[str, Any] = {
          "video": path, "top": [{"class": n, "score": s} for n, s in best]}
      print(json.dumps(record), flush=True)
    else:
      print(path)
      for name, value in best:
        print(f"  {value:6.3f}  {name}")
      sys.stdout.flush()
  return 1 if failures else 0


if __name__ == "__main__":
  app.run(lambda argv: sys.exit(main(argv)))
