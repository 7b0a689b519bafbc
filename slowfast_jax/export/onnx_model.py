"""ONNX export with jax2onnx, run with onnxruntime.

The serving function is traced to a jaxpr first and replayed through
`jaxpr_rewrite` (lax primitives only, three rewrites jax2onnx needs); jax2onnx
turns that into a standard ONNX graph (default domain only), whose
variables are initializers. Input `frames` uint8 `(batch, time, crop, crop,
3)`; outputs `probabilities` and `top_k_indices`.

jax2onnx 0.17 converts 1D and 2D convolutions only; `_conv3d_layouts` adds
the channels-last 3D layouts to its convolution plugin (its lowering — a
transpose to NCDHW, ONNX `Conv`, a transpose back — is already generic in the
number of spatial axes) for the duration of the conversion.
"""

import contextlib
import logging
from typing import Any, Callable

from etils import epath
import jax

from slowfast_jax.export import jaxpr_rewrite
from slowfast_jax.export import serving

ONNX_DOMAINS = ("", "ai.onnx")


def _import_jax2onnx():
  # jax2onnx imports all its plugins, and logs a traceback for each one whose
  # framework (equinox, dm-pix) is not installed; the export needs none.
  logging.getLogger("jax2onnx.plugins.plugin_system").setLevel(logging.ERROR)
  import jax2onnx  # pylint: disable=g-import-not-at-top
  from jax2onnx.plugins.jax.lax import conv  # pylint: disable=g-import-not-at-top
  return jax2onnx, conv


@contextlib.contextmanager
def _conv3d_layouts(conv):
  """Lets jax2onnx's conv plugin lower `NDHWC` × `DHWIO` convolutions."""
  tables = ((conv._LAYOUT_MAP, (0, 4, 1, 2, 3), "NDHWC"),  # pylint: disable=protected-access
            (conv._OUTPUT_LAYOUT_MAP, (0, 4, 1, 2, 3), "NDHWC"),  # pylint: disable=protected-access
            (conv._FILTER_LAYOUT_MAP, (4, 3, 0, 1, 2), "DHWIO"))  # pylint: disable=protected-access
  input_layout = conv._canonical_input_layout  # pylint: disable=protected-access
  kernel_layout = conv._canonical_kernel_layout  # pylint: disable=protected-access
  added = [(table, key) for table, key, _ in tables if key not in table]
  for table, key, layout in tables:
    table.setdefault(key, layout)
  conv._canonical_input_layout = (  # pylint: disable=protected-access
      lambda layout: "NCDHW" if len(layout) == 5 else input_layout(layout))
  conv._canonical_kernel_layout = (  # pylint: disable=protected-access
      lambda layout, *, is_transpose: (
          ("IODHW" if is_transpose else "OIDHW") if len(layout) == 5 else
          kernel_layout(layout, is_transpose=is_transpose)))
  try:
    yield
  finally:
    conv._canonical_input_layout = input_layout  # pylint: disable=protected-access
    conv._canonical_kernel_layout = kernel_layout  # pylint: disable=protected-access
    for table, key in added:
      del table[key]


def check_standard(model) -> None:
  """Raises unless `model` passes the ONNX checker with default-domain ops."""
  import onnx  # pylint: disable=g-import-not-at-top
  onnx.checker.check_model(model)
  custom = sorted({f"{n.domain}::{n.op_type}" for n in model.graph.node
                   if n.domain not in ONNX_DOMAINS})
  if custom:
    raise ValueError(f"The ONNX graph has non-standard ops {custom}.")


def convert(fn: Callable[[jax.Array], Any], spec: jax.ShapeDtypeStruct):
  """The `onnx.ModelProto` of `fn(frames)` for `spec`, checked."""
  jax2onnx, conv = _import_jax2onnx()
  closed = jax.make_jaxpr(fn)(spec)
  with _conv3d_layouts(conv):
    model = jax2onnx.to_onnx(
        jaxpr_rewrite.rewritten_fn(closed), inputs=[spec],
        input_names=[serving.INPUT_NAME],
        output_names=list(serving.OUTPUT_NAMES), model_name="slowfast_jax")
  check_standard(model)
  return model


def load(path: epath.PathLike, **session_options
         ) -> Callable[..., tuple[Any, Any]]:
  """`run(frames) -> (probabilities, top_k_indices)` numpy, via onnxruntime.

  `session_options` set attributes of `onnxruntime.SessionOptions` (e.g.
  `intra_op_num_threads`).
  """
  import onnxruntime  # pylint: disable=g-import-not-at-top
  options = onnxruntime.SessionOptions()
  for name, value in session_options.items():
    setattr(options, name, value)
  session = onnxruntime.InferenceSession(
      str(path), options, providers=["CPUExecutionProvider"])

  def run(frames):
    return tuple(session.run(list(serving.OUTPUT_NAMES),
                             {serving.INPUT_NAME: frames}))

  run.session = session
  return run
