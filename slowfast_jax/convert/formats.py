"""Reading checkpoint files of the PyTorch release, whatever their name says.

The format is sniffed from the first bytes, because the model zoo has `.pkl`
files that are really torch checkpoints:
- torch zip (`torch.save` since 1.6): a zip archive (`PK\\x03\\x04`);
- legacy torch pickle: a pickle whose first object is torch's magic number;
- anything else is read as a plain pickle: the release's Caffe2 format,
  `{'blobs': {name: ndarray}}`.
Torch files are read with `torch.load(weights_only=True)` and plain pickles
with `safe_pickle`, so no code from the file is run.
"""

import dataclasses
import pickle
import struct
from typing import Any

from etils import epath
import numpy as np

from slowfast_jax.convert import safe_pickle

TORCH_ZIP = "torch zip"
TORCH_LEGACY = "legacy torch pickle"
CAFFE2_PICKLE = "Caffe2 pickle"

_ZIP_MAGIC = b"PK\x03\x04"
# `torch.save`'s legacy format starts with the pickled integer
# 0x1950a86a20f9469cfc6c (opcode LONG1, 10 little-endian bytes) after PROTO.
_TORCH_LEGACY_MAGIC = b"\x8a\x0a" + (0x1950A86A20F9469CFC6C).to_bytes(10, "little")
# Top-level keys under which checkpoints keep their state dict.
_STATE_DICT_KEYS = ("model_state", "state_dict", "model")


class CheckpointFormatError(ValueError):
  """The file is not a checkpoint this converter can read."""


@dataclasses.dataclass
class SourceTensors:
  """The named tensors of a checkpoint file, as float numpy arrays.

  Attributes:
    path: the file read.
    file_format: `TORCH_ZIP`, `TORCH_LEGACY` or `CAFFE2_PICKLE`.
    tensors: name → array (state-dict names, or Caffe2 blob names).
    is_caffe2: `tensors` are Caffe2 blob names.
    container_key: the top-level key the tensors came from (`model_state`,
      `blobs`, ...), or "" for a bare state dict.
    extras: other top-level entries that are not tensors (e.g. `epoch`,
      `cfg` of a `.pyth`), kept for reporting.
  """
  path: str
  file_format: str
  tensors: dict[str, np.ndarray]
  is_caffe2: bool
  container_key: str
  extras: dict[str, Any]


def sniff_format(path: str | epath.Path) -> str:
  """`TORCH_ZIP`, `TORCH_LEGACY` or `CAFFE2_PICKLE`, from the file's bytes."""
  with epath.Path(path).open("rb") as f:
    head = f.read(16)
  if head.startswith(_ZIP_MAGIC):
    return TORCH_ZIP
  if len(head) >= 2 and head[0] == 0x80 and head[2:14] == _TORCH_LEGACY_MAGIC:
    return TORCH_LEGACY
  if not head:
    raise CheckpointFormatError(f"{path} is empty.")
  return CAFFE2_PICKLE


def _load_torch(path: epath.Path) -> Any:
  try:
    import torch  # pylint: disable=g-import-not-at-top  (only needed here)
  except ImportError as e:
    raise CheckpointFormatError(
        f"{path} is a torch file; reading it needs PyTorch (CPU is enough: "
        "pip install torch). Caffe2 .pkl files do not.") from e
  try:
    with path.open("rb") as f:
      return torch.load(f, map_location="cpu", weights_only=True)
  except (RuntimeError, EOFError, struct.error) as e:  # Cut short or damaged.
    reason = str(e).split(". ")[0].strip() or type(e).__name__
    raise CheckpointFormatError(
        f"{path} is damaged or truncated ({path.stat().length} bytes; torch: "
        f"{reason}); copy or download it again.") from e
  except pickle.UnpicklingError as e:
    # torch refuses anything but tensors and plain containers here.
    raise safe_pickle.UnsafePickleError(
        f"Refusing to load {path}: it is a torch file that asks to run code or "
        "build objects other than tensors and plain containers, and it was "
        f"loaded with weights_only=True, so nothing from it was run.\n"
        f"torch said: {str(e).splitlines()[0]}") from e


def _to_numpy(value: Any) -> np.ndarray:
  """A torch tensor or array-like → numpy array (floats as float32)."""
  if hasattr(value, "detach"):  # torch.Tensor
    value = value.detach().cpu()
    if value.is_floating_point():
      value = value.float()  # Also makes bfloat16/half numpy-convertible.
    value = value.numpy()
  array = np.asarray(value)
  if np.issubdtype(array.dtype, np.floating):
    array = array.astype(np.float32, copy=False)
  return array


def _is_tensor(value: Any) -> bool:
  return hasattr(value, "detach") or isinstance(value, np.ndarray)


def _find_tensors(obj: Any, path: str) -> tuple[dict[str, Any], str, dict]:
  """(name → tensor, the key they were under, other top-level entries)."""
  if not isinstance(obj, dict):
    raise CheckpointFormatError(
        f"{path} holds a {type(obj).__name__}, not a dict of tensors.")
  if "blobs" in obj and isinstance(obj["blobs"], dict):
    return obj["blobs"], "blobs", {k: v for k, v in obj.items() if k != "blobs"}
  for key in _STATE_DICT_KEYS:
    if isinstance(obj.get(key), dict) and obj[key]:
      return obj[key], key, {k: v for k, v in obj.items() if k != key}
  if obj and all(_is_tensor(v) for v in obj.values()):
    return obj, "", {}
  raise CheckpointFormatError(
      f"{path}: found no model weights. Expected a PySlowFast checkpoint "
      "(a dict with 'model_state'), a state dict, or a Caffe2 pickle (a dict "
      f"with 'blobs'); top-level keys are {sorted(map(str, obj))[:20]}.")


def read_tensors(path: str | epath.Path) -> SourceTensors:
  """Reads the named tensors of a checkpoint file without running its code.

  Raises:
    CheckpointFormatError: not a checkpoint in a known format.
    safe_pickle.UnsafePickleError: the file asks to run code.
  """
  path = epath.Path(path)
  file_format = sniff_format(path)
  if file_format in (TORCH_ZIP, TORCH_LEGACY):
    obj = _load_torch(path)
  else:
    try:
      with path.open("rb") as f:
        obj = safe_pickle.load(f)
    except safe_pickle.UnsafePickleError as e:
      raise safe_pickle.UnsafePickleError(f"{path}: {e}") from e
    except Exception as e:  # Truncated or not a pickle at all.
      raise CheckpointFormatError(
          f"{path} is neither a torch file nor a readable pickle: {e}") from e
  raw, container_key, extras = _find_tensors(obj, str(path))
  is_caffe2 = container_key == "blobs"
  if is_caffe2 and file_format != CAFFE2_PICKLE:
    raise CheckpointFormatError(f"{path}: a torch file with Caffe2 'blobs'?")
  tensors = {}
  for name, value in raw.items():
    if not isinstance(name, str):
      raise CheckpointFormatError(f"{path}: tensor name {name!r} is not text.")
    if not (_is_tensor(value) or isinstance(value, (int, float))):
      raise CheckpointFormatError(
          f"{path}: entry {name!r} is a {type(value).__name__}, not a tensor.")
    tensors[name] = _to_numpy(value)
  return SourceTensors(str(path), file_format, tensors, is_caffe2, container_key, extras)
