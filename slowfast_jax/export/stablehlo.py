"""StableHLO export with `jax.export`: one serialized file, variables inside.

The file reloads with `jax.export.deserialize(data)`, and `.call(frames)`
runs it (in or outside `jax.jit`).
"""

import re
from typing import Any, Callable

from etils import epath
import jax

# Custom calls that jax.export itself emits and its runtimes execute: the
# shape checks of a symbolic (dynamic) batch dimension.
ALLOWED_CUSTOM_CALLS = frozenset({"shape_assertion"})
_CUSTOM_CALL = re.compile(r"stablehlo\.custom_call\s+@([\w.$-]+)")


def custom_call_targets(exported: jax.export.Exported) -> set[str]:
  """The targets of all `stablehlo.custom_call`s in the exported module."""
  return set(_CUSTOM_CALL.findall(exported.mlir_module()))


def check_standard(exported: jax.export.Exported) -> None:
  """Raises if the module has custom calls beyond `ALLOWED_CUSTOM_CALLS`."""
  unknown = custom_call_targets(exported) - ALLOWED_CUSTOM_CALLS
  if unknown:
    raise ValueError(
        f"The exported module has backend-specific custom calls "
        f"{sorted(unknown)}; other runtimes cannot run them.")


def export(fn: Callable[[jax.Array], Any], spec: jax.ShapeDtypeStruct
           ) -> jax.export.Exported:
  """`fn(frames)` exported for `spec`, checked for custom calls."""
  exported = jax.export.export(jax.jit(fn))(spec)
  check_standard(exported)
  return exported


def load(path: epath.PathLike) -> jax.export.Exported:
  """The `Exported` in `path`; call it with `.call(frames)`."""
  return jax.export.deserialize(bytearray(epath.Path(path).read_bytes()))
