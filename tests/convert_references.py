"""The PyTorch release's reference files (`../shared/reference/pyslowfast/`).

Each tiny reference `<preset>_tiny[_crop96]` has a `.pyth` and a Caffe2 `.pkl`
with the same weights and an `_io.npz` with the inputs and the release's eval
output; they were built from the preset with width 8, 10 classes, 64-px
training crop and 16 frames (see the directory's README).
"""

import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from model_configs import tiny_model_config

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _shared_reference() -> pathlib.Path:
  """`$SLOWFAST_JAX_REFERENCE_ROOT`, else `shared/reference` beside the
  checkout (or beside one of its parents, for a git worktree)."""
  if "SLOWFAST_JAX_REFERENCE_ROOT" in os.environ:
    return pathlib.Path(os.environ["SLOWFAST_JAX_REFERENCE_ROOT"])
  parents = pathlib.Path(__file__).resolve().parents
  return next((p / "shared" / "reference" for p in parents
               if (p / "shared" / "reference").is_dir()),
              parents[2] / "shared" / "reference")


REFERENCE_DIR = _shared_reference() / "pyslowfast"
FULL_MODEL_KEYS_DIR = REFERENCE_DIR / "full_model_keys"
REFERENCES = sorted(p.name[:-len("_io.npz")]
                    for p in REFERENCE_DIR.glob("*_tiny*_io.npz"))

requires_references = pytest.mark.skipif(
    not REFERENCES, reason=f"no reference files in {REFERENCE_DIR}")

# The detection models (AVA presets), with boxes in their `_io.npz`.
AVA_REFERENCE_DIR = REFERENCE_DIR.parent / "pyslowfast_ava"
AVA_REFERENCES = sorted(p.name[:-len("_io.npz")]
                        for p in AVA_REFERENCE_DIR.glob("*_tiny*_io.npz"))
requires_ava_references = pytest.mark.skipif(
    not AVA_REFERENCES, reason=f"no reference files in {AVA_REFERENCE_DIR}")
# The release evaluator's AVA ground truth, detections and mAP per class.
AVA_EVAL_DIR = REFERENCE_DIR.parent / "ava_eval"


def preset_of(reference: str) -> str:
  """`slowfast_8x8_r50_tiny_crop96` → `slowfast_8x8_r50`."""
  return reference.split("_tiny")[0]


def tiny_config(reference: str):
  """The `model` config the reference was built with."""
  return tiny_model_config(preset_of(reference), width=8, classes=10, crop=64,
                           frames=16)


def _pathways(io) -> list[np.ndarray]:
  """The `_io.npz`'s pathway inputs, channels-last `(N, T, H, W, C)`."""
  return [io[f"arr_{i}"].transpose(0, 2, 3, 4, 1)
          for i in range(2) if f"arr_{i}" in io]


def inputs_and_output(reference: str) -> tuple[list[np.ndarray], np.ndarray]:
  """Pathway inputs, channels-last `(N, T, H, W, C)`, Slow first; eval output."""
  io = np.load(REFERENCE_DIR / f"{reference}_io.npz")
  return _pathways(io), io["output"]


def padded_boxes(rois: np.ndarray, batch: int, max_boxes: int
                 ) -> tuple[np.ndarray, np.ndarray]:
  """Release rois `(K, 5)` (batch index, x1, y1, x2, y2) → boxes
  `(batch, max_boxes, 4)` and mask `(batch, max_boxes)`, in roi order."""
  boxes = np.zeros((batch, max_boxes, 4), np.float32)
  mask = np.zeros((batch, max_boxes), bool)
  for b in range(batch):
    clip_boxes = rois[rois[:, 0] == b, 1:]
    boxes[b, :len(clip_boxes)] = clip_boxes
    mask[b, :len(clip_boxes)] = True
  return boxes, mask


def ava_tiny_config(reference: str):
  """The `model` config an AVA reference was built with (16 frames for
  SlowFast, the config's own 4 for Slow)."""
  frames = 16 if "slowfast" in reference else 4
  return tiny_model_config(preset_of(reference), width=8, classes=10, crop=64,
                           frames=frames)


def ava_inputs_and_outputs(reference: str, max_boxes: int = 4) -> dict:
  """`pathways`, padded `boxes` and `box_mask`, and the release's per-box
  `projection_output` (logits) and `output` (sigmoid), `(K, classes)` in the
  order of `box_mask`'s True entries."""
  io = np.load(AVA_REFERENCE_DIR / f"{reference}_io.npz")
  pathways = _pathways(io)
  boxes, mask = padded_boxes(io["boxes"], pathways[0].shape[0], max_boxes)
  return dict(pathways=pathways, boxes=boxes, box_mask=mask,
              projection_output=io["projection_output"], output=io["output"])


def read_manifest(path: pathlib.Path) -> list[tuple[str, tuple[int, ...], list[str]]]:
  """(name, torch shape, other columns) of each line of a `*_keys.tsv`."""
  rows = []
  for line in path.read_text().splitlines():
    if not line.strip() or line.startswith("#"):
      continue
    name, shape, *rest = line.split("\t")
    dims = tuple(int(d) for d in shape.strip("()").split(",") if d.strip())
    rows.append((name, dims, rest))
  return rows


def projection_output(reference: str) -> np.ndarray:
  """The release's classifier output per position `(N, t, h, w, classes)`."""
  return np.load(REFERENCE_DIR / f"{reference}_io.npz")["projection_output"]


def run_converter(*args) -> subprocess.CompletedProcess:
  """`python -m slowfast_jax.convert` with the tiny variant of SlowFast 8×8."""
  command = [
      sys.executable, "-m", "slowfast_jax.convert",
      "--config", "configs/slowfast_8x8_r50.py",
      # The reference's tiny variant of the preset.
      "--config.model.width_per_group=8", "--config.model.num_classes=10",
      "--config.model.train_crop_size=64", "--config.model.num_frames=16",
      *args]
  return subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                        check=False, env={**os.environ, "JAX_PLATFORMS": "cpu"})
