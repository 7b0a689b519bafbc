"""`python -m slowfast_jax.convert` end to end on a tiny release checkpoint."""

import jax
import numpy as np

from slowfast_jax import checkpoint
from slowfast_jax import convert

import convert_references as refs

REFERENCE = "slowfast_8x8_r50_tiny"
pytestmark = refs.requires_references
_run = refs.run_converter


def test_writes_a_restorable_checkpoint_and_refuses_to_overwrite(tmp_path):
  source = refs.REFERENCE_DIR / f"{REFERENCE}.pkl"
  output = tmp_path / "converted"
  result = _run("--checkpoint", str(source), "--output", str(output))
  assert result.returncode == 0, result.stderr
  assert "Caffe2 pickle" in result.stdout
  assert "converted: 552 tensors" in result.stdout
  assert "ignored (not weights): 3: conv1_w_momentum, lr, model_iter" in result.stdout

  variables, metadata = checkpoint.restore_variables(output)
  expected = convert.load_torch_checkpoint(source, refs.tiny_config(REFERENCE))
  jax.tree.map(np.testing.assert_array_equal, variables, expected)
  assert metadata["model"]["num_classes"] == 10
  assert metadata["model"]["width_per_group"] == 8
  assert metadata["source"]["format"] == "Caffe2 pickle"
  assert metadata["class_names"] is None

  again = _run("--checkpoint", str(source), "--output", str(output))
  assert again.returncode != 0
  assert "is not empty; pass --overwrite" in again.stderr

  names_file = tmp_path / "classes.txt"
  names_file.write_text("".join(f"class {i}\n" for i in range(10)))
  replaced = _run("--checkpoint", str(refs.REFERENCE_DIR / f"{REFERENCE}.pyth"),
                  "--output", str(output), "--overwrite",
                  "--class-names", str(names_file))
  assert replaced.returncode == 0, replaced.stderr
  _, metadata = checkpoint.restore_variables(output)
  assert metadata["source"]["format"] == "torch zip"
  assert metadata["class_names"][9] == "class 9"


def test_class_count_mismatch_is_an_error_and_writes_nothing(tmp_path):
  output = tmp_path / "converted"
  result = _run("--config.model.num_classes=400",
                "--checkpoint", str(refs.REFERENCE_DIR / f"{REFERENCE}.pyth"),
                "--output", str(output))
  assert result.returncode == 1
  assert "classifier has 10 classes but the model has num_classes=400" in \
      result.stderr
  assert "Traceback" not in result.stderr
  assert not output.exists()
