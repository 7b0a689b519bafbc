"""Helpers the benchmarks share.

The tests import them too (their conftest puts bench/ on the path).
"""

import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]


def load_preset(name: str):
  """`configs/NAME.py`'s `get_config()`."""
  from slowfast_jax import validate  # pylint: disable=g-import-not-at-top
  return validate.load_config_file(str(ROOT / "configs" / f"{name}.py"))
