"""Lets tests and benchmarks import pytorchvideo without torchvision.

pytorchvideo imports `torchvision.ops.RoIAlign` at module import time (for its
detection head), but torchvision is not installed in this environment and no
test or benchmark here builds a detection head. `install_torchvision_stub()`
puts a minimal `torchvision` / `torchvision.ops` into `sys.modules` when the
real one is missing; the stub's `RoIAlign` raises if anything tries to use it.
"""

import importlib.util
import sys
import types


class _RoIAlignStub:

  def __init__(self, *args, **kwargs):
    raise RuntimeError("torchvision is not installed: RoIAlign is a test stub.")


def install_torchvision_stub() -> None:
  """Registers a stub `torchvision.ops.RoIAlign` unless torchvision exists."""
  if "torchvision" in sys.modules or importlib.util.find_spec("torchvision"):
    return
  torchvision = types.ModuleType("torchvision")
  ops = types.ModuleType("torchvision.ops")
  ops.RoIAlign = _RoIAlignStub
  torchvision.ops = ops
  sys.modules["torchvision"] = torchvision
  sys.modules["torchvision.ops"] = ops


def import_pytorchvideo_hub():
  """`pytorchvideo.models.hub`, importable without torchvision."""
  install_torchvision_stub()
  import pytorchvideo.models.hub as hub  # pylint: disable=g-import-not-at-top
  return hub
