"""TensorFlow SavedModel export with jax2tf.

The SavedModel holds the variables as `tf.Variable`s and one signature,
`serving_default`: `frames` uint8 `(batch, time, crop, crop, 3)` →
`{"probabilities": (batch, classes) float32, "top_k_indices": (batch, k)
int32}`. The computation is the serving function's StableHLO (jax2tf's native
serialization, an `XlaCallModule` op), so it is exactly what JAX runs.
"""

from typing import Any, Callable

from etils import epath
import jax

from slowfast_jax.export import serving

SIGNATURE = "serving_default"


def _tensor_spec(spec: jax.ShapeDtypeStruct):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  shape = [d if isinstance(d, int) else None for d in spec.shape]
  return tf.TensorSpec(shape, tf.uint8, name=serving.INPUT_NAME)


def save(serve: Callable[[Any, jax.Array], Any], variables: Any,
         spec: jax.ShapeDtypeStruct, path: epath.PathLike) -> epath.Path:
  """Writes `serve(variables, frames)` as a SavedModel directory at `path`.

  Args:
    serve: `serving.make_serving_fn(...)`.
    variables: the model's variables (numpy or jax arrays).
    spec: the frames input; a symbolic batch dimension gives `None` (any
      batch) in the signature.
    path: the SavedModel directory to write.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from jax.experimental import jax2tf  # pylint: disable=g-import-not-at-top

  dynamic = not isinstance(spec.shape[0], int)
  tf_serve = jax2tf.convert(
      serve, polymorphic_shapes=[None, "(b, ...)" if dynamic else None],
      with_gradient=False)
  module = tf.Module()
  module.model_variables = jax.tree.map(
      lambda x: tf.Variable(x, trainable=False), variables)

  @tf.function(input_signature=[_tensor_spec(spec)], autograph=False)
  def serving_default(frames):
    outputs = tf_serve(module.model_variables, frames)
    return dict(zip(serving.OUTPUT_NAMES, outputs))

  module.serving_default = serving_default
  path = epath.Path(path)
  tf.saved_model.save(module, str(path),
                      signatures={SIGNATURE: serving_default})
  return path


def load(path: epath.PathLike) -> Callable[..., tuple[Any, Any]]:
  """`run(frames) -> (probabilities, top_k_indices)` numpy, via TF."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  loaded = tf.saved_model.load(str(path))
  signature = loaded.signatures[SIGNATURE]

  def run(frames):
    outputs = signature(**{serving.INPUT_NAME: tf.constant(frames)})
    return tuple(outputs[name].numpy() for name in serving.OUTPUT_NAMES)

  run.saved_model = loaded  # Keeps the variables alive.
  return run
