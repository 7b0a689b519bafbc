"""One entry point per direction for the three formats: `save` and `load`."""

from typing import Any, Callable

from etils import epath
import jax
import ml_collections
import numpy as np

from slowfast_jax.export import FORMATS
from slowfast_jax.export import serving


def _check_format(fmt: str) -> None:
  if fmt not in FORMATS:
    raise ValueError(f"Unknown export format {fmt!r}; expected one of "
                     f"{', '.join(FORMATS)}.")


def save(fmt: str, config: ml_collections.ConfigDict, variables: Any,
         path: epath.PathLike, *, batch: int | None = None,
         top_k: int = 5) -> epath.Path:
  """Exports the serving function of `config` with `variables` to `path`.

  Args:
    fmt: "onnx" (a `.onnx` file), "savedmodel" (a directory) or "stablehlo"
      (a file of `jax.export` serialized bytes).
    config: a full config; the input is `serving.frames_shape(config)`.
    variables: `{"params", "batch_stats"}` of the model.
    path: where to write.
    batch: the fixed batch size, or None for a symbolic (any) batch.
    top_k: class indices returned per clip.
  """
  _check_format(fmt)
  serve = serving.make_serving_fn(config, top_k)
  spec = serving.input_spec(config, batch)
  path = epath.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  if fmt == "savedmodel":
    from slowfast_jax.export import saved_model  # pylint: disable=g-import-not-at-top
    return saved_model.save(serve, variables, spec, path)
  # The variables become constants of the graph.
  variables = jax.tree.map(np.asarray, variables)
  frames_fn = lambda frames: serve(variables, frames)
  if fmt == "onnx":
    import onnx  # pylint: disable=g-import-not-at-top
    from slowfast_jax.export import onnx_model  # pylint: disable=g-import-not-at-top
    onnx.save(onnx_model.convert(frames_fn, spec), str(path))
  else:
    from slowfast_jax.export import stablehlo  # pylint: disable=g-import-not-at-top
    path.write_bytes(bytes(stablehlo.export(frames_fn, spec).serialize()))
  return path


def load(fmt: str, path: epath.PathLike
         ) -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]:
  """`run(frames uint8) -> (probabilities, top_k_indices)` in the format's
  own runtime: onnxruntime, TensorFlow, or JAX (`Exported.call`, jitted)."""
  _check_format(fmt)
  if fmt == "onnx":
    from slowfast_jax.export import onnx_model  # pylint: disable=g-import-not-at-top
    return onnx_model.load(path)
  if fmt == "savedmodel":
    from slowfast_jax.export import saved_model  # pylint: disable=g-import-not-at-top
    return saved_model.load(path)
  from slowfast_jax.export import stablehlo  # pylint: disable=g-import-not-at-top
  call = jax.jit(stablehlo.load(path).call)
  return lambda frames: tuple(np.asarray(x) for x in call(frames))
