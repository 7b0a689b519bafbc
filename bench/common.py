"""Helpers the benchmarks share.

The tests import them too (their conftest puts bench/ on the path).
"""

import importlib.util
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]


def load_preset(name: str):
  """`configs/NAME.py`'s `get_config()`."""
  path = ROOT / "configs" / f"{name}.py"
  if not path.is_file():
    raise FileNotFoundError(f"No preset {name!r}: {path} does not exist.")
  spec = importlib.util.spec_from_file_location(f"configs.{name}", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config()
