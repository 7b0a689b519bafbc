"""Export of a trained model for serving outside JAX.

Three formats of one serving function (`serving.make_serving_fn`: uint8
frames `(batch, time, crop, crop, 3)` → class probabilities `(batch,
classes)` and top-k class indices `(batch, k)`):

- `stablehlo`: `jax.export` serialized bytes (`stablehlo.py`);
- `savedmodel`: a TensorFlow SavedModel via jax2tf (`saved_model.py`);
- `onnx`: an ONNX graph via jax2onnx, run with onnxruntime (`onnx_model.py`).

CLI: `python -m slowfast_jax.export` (see `__main__.py`).
"""

FORMATS = ("onnx", "savedmodel", "stablehlo")
