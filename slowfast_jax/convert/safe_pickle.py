"""A pickle loader that only rebuilds numpy arrays and plain containers.

A pickle can name any importable callable and have it called while loading
(`__reduce__`), so loading an untrusted Caffe2 `.pkl` with `pickle.load` can run
arbitrary code. Caffe2 checkpoints only hold `{'blobs': {name: ndarray}}`, so
`load` admits just the few globals numpy arrays need and refuses everything
else before it is called.
"""

import io
import pickle
from typing import Any, BinaryIO

import numpy as np

# (module, name) pairs a numpy-array pickle refers to; nothing else is imported.
_ALLOWED_GLOBALS = frozenset({
    # Array reconstruction (numpy < 2 writes `numpy.core`, numpy 2 `numpy._core`).
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    # Pickle protocol 5 rebuilds arrays from a byte buffer.
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    # Protocol 2 pickles written by Python 3 store bytes as
    # `_codecs.encode(text, 'latin1')`; encoding a string runs no user code.
    ("_codecs", "encode"),
    ("collections", "OrderedDict"),
})


class UnsafePickleError(pickle.UnpicklingError):
  """The pickle refers to something other than numpy arrays and containers."""


class _RestrictedUnpickler(pickle.Unpickler):

  def find_class(self, module: str, name: str) -> Any:
    if (module, name) not in _ALLOWED_GLOBALS:
      raise UnsafePickleError(
          f"Refusing to load '{module}.{name}': this pickle asks to import and "
          "call it, and only numpy arrays and plain containers (what a Caffe2 "
          "checkpoint holds) are allowed. Nothing from the file was run.")
    return super().find_class(module, name)

  def persistent_load(self, pid: Any) -> Any:
    raise UnsafePickleError(
        "Refusing a pickle with persistent ids (a torch file?): only plain "
        "numpy pickles are read by this loader.")


def _check_plain(obj: Any, where: str = "top level") -> None:
  """Rejects object arrays: their elements could not be anything but data
  here (they went through the same unpickler), but no checkpoint has them."""
  if isinstance(obj, np.ndarray):
    if obj.dtype.hasobject:
      raise UnsafePickleError(f"Object-dtype array at {where}; expected numbers.")
  elif isinstance(obj, dict):
    for key, value in obj.items():
      _check_plain(value, f"{where}[{key!r}]")
  elif isinstance(obj, (list, tuple)):
    for i, value in enumerate(obj):
      _check_plain(value, f"{where}[{i}]")


def load(file: BinaryIO | bytes) -> Any:
  """Unpickles numpy arrays, numbers, strings, dicts, lists and tuples only.

  Python 2 pickles (the Caffe2 model zoo) are read with `encoding='latin1'`,
  which numpy needs to rebuild their arrays.

  Raises:
    UnsafePickleError: the pickle refers to any other global.
  """
  if isinstance(file, (bytes, bytearray)):
    file = io.BytesIO(file)
  obj = _RestrictedUnpickler(file, encoding="latin1").load()
  _check_plain(obj)
  return obj
