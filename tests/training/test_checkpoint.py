"""Checkpoint directories: save/restore of variables and metadata."""

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from slowfast_jax import checkpoint
from slowfast_jax import checkpoint_errors


def _variables(value: float) -> dict:
  return {
      "params": {"head": {"projection": {
          "kernel": np.full((4, 3), value, np.float32),
          "bias": np.zeros(3, np.float32)}}},
      "batch_stats": {"slow_stem": {"bn": {
          "mean": np.full(4, value, np.float32),
          "var": np.ones(4, np.float32)}}},
  }


def _assert_same(restored, expected):
  jax.tree.map(np.testing.assert_array_equal, restored, expected)


def test_round_trip_with_metadata(tmp_path):
  metadata = {"model": {"arch": "slowfast", "num_classes": 3},
              "class_names": ["a", "b", "c"], "source": {"path": "x.pkl"}}
  checkpoint.save_variables(tmp_path / "ckpt", _variables(1.5), metadata=metadata)
  variables, restored_metadata = checkpoint.restore_variables(tmp_path / "ckpt")
  _assert_same(variables, _variables(1.5))
  assert restored_metadata == metadata


def test_latest_step_by_default_and_explicit_steps(tmp_path):
  checkpoint.save_variables(tmp_path, _variables(1.0), step=0)
  checkpoint.save_variables(tmp_path, _variables(2.0), step=10,
                            metadata={"step": 10})
  variables, metadata = checkpoint.restore_variables(tmp_path)
  _assert_same(variables, _variables(2.0))
  assert metadata == {"step": 10}
  variables, metadata = checkpoint.restore_variables(tmp_path, step=0)
  _assert_same(variables, _variables(1.0))
  assert metadata == {}


def test_reads_training_directories_with_more_items(tmp_path):
  """Training writes extra items (e.g. `opt_state`) next to `variables`."""
  with ocp.CheckpointManager(tmp_path) as manager:
    manager.save(7, args=ocp.args.Composite(
        variables=ocp.args.StandardSave(_variables(3.0)),
        opt_state=ocp.args.StandardSave({"momentum": np.ones(5, np.float32)}),
        metadata=ocp.args.JsonSave({"epoch": 1})))
    manager.wait_until_finished()
  variables, metadata = checkpoint.restore_variables(tmp_path)
  _assert_same(variables, _variables(3.0))
  assert metadata == {"epoch": 1}


def test_a_training_workdir_reads_its_checkpoints(tmp_path):
  checkpoint.save_variables(tmp_path / checkpoint.WORKDIR_SUBDIR,
                            _variables(4.0), step=3)
  (tmp_path / "events.out.tfevents.0").write_text("")
  variables, _ = checkpoint.restore_variables(tmp_path)
  _assert_same(variables, _variables(4.0))


def test_empty_directory_is_a_clear_error(tmp_path):
  with pytest.raises(checkpoint.CheckpointError, match="No checkpoint steps"):
    checkpoint.restore_variables(tmp_path)


def test_missing_directory_and_unknown_step_are_clear_errors(tmp_path):
  with pytest.raises(checkpoint.CheckpointError, match="does not exist"):
    checkpoint.restore_variables(tmp_path / "nothing")
  checkpoint.save_variables(tmp_path, _variables(1.0), step=4)
  with pytest.raises(checkpoint.CheckpointError,
                     match=f"{tmp_path} has no step 5; its steps are 4"):
    checkpoint.restore_variables(tmp_path, step=5)


def test_cut_metadata_is_damaged_and_other_errors_keep_their_type(tmp_path):
  checkpoint.save_variables(tmp_path, _variables(1.0), step=1,
                            metadata={"model": {"arch": "slow"}})
  checkpoint.save_variables(tmp_path, _variables(2.0), step=2,
                            metadata={"model": {"arch": "slow"}})
  stored = tmp_path / "2" / checkpoint.METADATA / "metadata"
  stored.write_text(stored.read_text()[:10])
  with pytest.raises(checkpoint.CheckpointError) as error:
    checkpoint.restore_variables(tmp_path)
  assert str(error.value).startswith(
      f"{tmp_path}/2/metadata: the checkpoint is damaged (invalid JSON")
  assert "also has step 1" in str(error.value)
  assert "\n" not in str(error.value)
  _, metadata = checkpoint.restore_variables(tmp_path, step=1)
  assert metadata == {"model": {"arch": "slow"}}
  # Anything not recognized as damage or mismatch is a bug: re-raised as is.
  with pytest.raises(ValueError, match="^a bug$"):
    with checkpoint_errors.explained(tmp_path, "fix"):
      raise ValueError("a bug")
