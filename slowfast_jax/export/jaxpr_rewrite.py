"""Re-evaluates a traced jaxpr with a few primitives spelled for ONNX.

jax2onnx (0.17) converts jaxpr primitives one by one. Three of the serving
graph's do not convert as they are, so `evaluate` replays the jaxpr with
lax-level equivalents (the same values):

- `pad` with a symbolic batch dimension (jax2onnx cannot shape it):
  a concatenation with constant blocks;
- `reduce_window_max` and `reduce_window_sum` (the temporal max-pool of
  C2D / I3D, the head's average pool): jax2onnx makes a MaxPool / Conv over
  all 5 axes (onnxruntime rejects such a MaxPool); here they are the max /
  sum of the window's strided slices, one axis after another;
- calls with custom derivatives and nested jits are inlined (inference needs
  no derivative rules), so the rewrites reach inside them.

Everything runs on lax primitives, so jax2onnx's flax- and numpy-level
patches see no flax or numpy call.
"""

import functools
from typing import Any, Sequence

import jax
from jax import lax
from jax.extend import core as jax_core

_INLINED = ("custom_jvp_call", "custom_vjp_call", "pjit", "jit",
            "closed_call", "remat", "checkpoint")


def _inner_jaxpr(eqn) -> jax_core.ClosedJaxpr:
  for key in ("call_jaxpr", "jaxpr", "fun_jaxpr"):
    inner = eqn.params.get(key)
    if inner is not None:
      return inner
  raise NotImplementedError(
      f"No inner jaxpr in the {eqn.primitive.name!r} equation to inline.")


def _fill_block(x, axis, size, value):
  """`value` in `x`'s shape and dtype, with `size` along `axis`."""
  shape = x.shape[:axis] + (size,) + x.shape[axis + 1:]
  return lax.broadcast_in_dim(lax.convert_element_type(value, x.dtype), shape,
                              ())


def pad_by_concatenation(x: jax.Array, value: jax.Array,
                         config: Sequence[tuple[int, int, int]]) -> jax.Array:
  """`lax.pad(x, value, config)` for non-negative, non-interior padding."""
  for axis, (low, high, interior) in enumerate(config):
    if interior or low < 0 or high < 0:
      raise NotImplementedError(
          f"pad config {tuple(config)}: only non-negative edge padding is "
          "exported to ONNX.")
    parts = [x]
    if low:
      parts.insert(0, _fill_block(x, axis, low, value))
    if high:
      parts.append(_fill_block(x, axis, high, value))
    if len(parts) > 1:
      x = lax.concatenate(parts, axis)
  return x


def window_reduce_by_slices(x: jax.Array, op, window: Sequence[int],
                            strides: Sequence[int]) -> jax.Array:
  """`lax.reduce_window(x, op, window, strides, "VALID")` for an associative,
  commutative `op` (max, add), one axis after another: along each axis, `op`
  of the window's strided slices."""
  for axis, (size, w, s) in enumerate(zip(x.shape, window, strides)):
    if w == 1 and s == 1:
      continue
    if axis == 0:
      raise NotImplementedError("A window over the batch axis is not exported.")
    out = (size - w) // s + 1
    taps = [lax.slice_in_dim(x, j, j + s * (out - 1) + 1, s, axis)
            for j in range(w)]
    x = functools.reduce(op, taps)
  return x


# reduce_window primitive → (op, padding value).
_WINDOW_OPS = {"reduce_window_max": (lax.max, -float("inf")),
               "reduce_window_sum": (lax.add, 0.0)}


def _rewritten(eqn, invals) -> list[Any] | None:
  """The equation's outputs through a rewrite, or None to bind it as is."""
  name = eqn.primitive.name
  if name in _INLINED:
    inner = _inner_jaxpr(eqn)
    args = invals[len(invals) - len(inner.jaxpr.invars):]
    return evaluate(inner.jaxpr, inner.consts, *args)
  if name == "pad":
    return [pad_by_concatenation(*invals, eqn.params["padding_config"])]
  if name in _WINDOW_OPS:
    params = eqn.params
    if any(d != 1 for d in (*params["base_dilation"],
                            *params["window_dilation"])):
      return None
    op, fill = _WINDOW_OPS[name]
    x = invals[0]
    if any(tuple(p) != (0, 0) for p in params["padding"]):
      x = pad_by_concatenation(x, fill, [(lo, hi, 0)
                                         for lo, hi in params["padding"]])
    return [window_reduce_by_slices(x, op, params["window_dimensions"],
                                    params["window_strides"])]
  return None


def evaluate(jaxpr: jax_core.Jaxpr, consts: Sequence[Any], *args) -> list[Any]:
  """`jax.core.eval_jaxpr` with the rewrites above."""
  env = {}

  def read(var):
    return var.val if isinstance(var, jax_core.Literal) else env[var]

  env.update(zip(jaxpr.constvars, consts))
  env.update(zip(jaxpr.invars, args))
  for eqn in jaxpr.eqns:
    invals = [read(v) for v in eqn.invars]
    outs = _rewritten(eqn, invals)
    if outs is None:
      outs = eqn.primitive.bind(*invals,
                                **eqn.primitive.get_bind_params(eqn.params))
      if not eqn.primitive.multiple_results:
        outs = [outs]
    env.update(zip(eqn.outvars, outs))
  return [read(v) for v in jaxpr.outvars]


def rewritten_fn(closed: jax_core.ClosedJaxpr):
  """`fn(*args)` that replays `closed` with the rewrites (a tuple of outputs)."""
  return lambda *args: tuple(evaluate(closed.jaxpr, closed.consts, *args))
