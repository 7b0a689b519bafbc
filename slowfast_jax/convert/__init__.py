"""Conversion of the PyTorch release's checkpoints into Flax variables.

`load_torch_checkpoint(path, config.model)` reads a PySlowFast `.pyth`, a
Caffe2 `.pkl` or a pytorchvideo state dict (format sniffed from the content,
nothing in the file is run) and returns `{'params': ..., 'batch_stats': ...}`.
Command line: `python -m slowfast_jax.convert --help`.
"""

from slowfast_jax.convert.formats import CheckpointFormatError
from slowfast_jax.convert.load import CheckpointMismatchError
from slowfast_jax.convert.load import ConversionReport
from slowfast_jax.convert.load import convert_checkpoint
from slowfast_jax.convert.load import convert_tensors
from slowfast_jax.convert.load import load_torch_checkpoint
from slowfast_jax.convert.safe_pickle import UnsafePickleError

__all__ = [
    "CheckpointFormatError", "CheckpointMismatchError", "ConversionReport",
    "UnsafePickleError", "convert_checkpoint", "convert_tensors",
    "load_torch_checkpoint",
]
