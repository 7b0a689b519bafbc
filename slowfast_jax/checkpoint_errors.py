"""Known checkpoint problems as one error type with a one-line message.

orbax, TensorStore and JSON report a file cut short or overwritten, or a
saved tree unlike the requested one, in long multi-line errors deep in a
traceback. `explained` turns exactly those into a `CheckpointError` naming
the file and the fix; any other error is a bug and keeps its traceback.
"""

import contextlib
import json
import logging
import re
import sys
import traceback
from typing import Iterator

from etils import epath

# TensorStore starts its errors with a status; these say a file could not be
# read as it was written (cut short, overwritten, deleted).
_DAMAGE_STATUSES = ("DATA_LOSS", "OUT_OF_RANGE", "FAILED_PRECONDITION",
                    "NOT_FOUND")
_STORED_FILE = re.compile(r'(?: in OCDBT database at)? local file "([^"]+)"')
_SHAPE_MISMATCH = re.compile(
    r"Requested shape: (\(.*?\)) is not compatible with the stored shape: "
    r"(\(.*?\))")
_TREE_MISMATCH = "tree structures do not match"


class CheckpointError(ValueError):
  """A checkpoint that cannot be used as asked; the message says why and how.

  One line naming the directory or file and the fix (`train.py`, `eval.py`,
  `predict` and the converter print it as `error: <message>`).
  """


def _causes(error: BaseException | None) -> Iterator[BaseException]:
  while error is not None:
    yield error
    error = error.__cause__ or error.__context__


def _first_line(error: BaseException) -> str:
  lines = str(error).strip().splitlines()
  return lines[0] if lines else type(error).__name__


def _damage(error: BaseException) -> tuple[str, str | None] | None:
  """`(reason, file or None)` if `error` says a stored file is unreadable."""
  for cause in _causes(error):
    if isinstance(cause, json.JSONDecodeError):
      return f"invalid JSON: {cause.msg}, char {cause.pos}", None
    if isinstance(cause, FileNotFoundError):
      return "a file is missing", cause.filename
    text = _first_line(cause)
    if isinstance(cause, ValueError) and text.startswith(_DAMAGE_STATUSES):
      found = _STORED_FILE.search(text)
      reason = _STORED_FILE.sub("", text)[:160]
      return reason, found.group(1).rstrip("/") if found else None
  return None


def _mismatch(error: BaseException) -> str | None:
  """What differs, if `error` is orbax refusing a tree unlike the saved one."""
  for cause in _causes(error):
    text = str(cause)
    shapes = _SHAPE_MISMATCH.search(text)
    if shapes:
      return (f"an array of shape {shapes.group(2)} where the config needs "
              f"{shapes.group(1)}")
    if _TREE_MISMATCH in text:
      return "another tree structure than the config builds"
  return None


def _from_orbax_read(error: BaseException | None, trace) -> bool:
  """Whether `error` (raised along `trace`) is a leftover of a failed orbax read."""
  if isinstance(error, RuntimeError) and "Event loop is closed" in str(error):
    return True
  frames = traceback.extract_tb(trace)
  return any("/orbax/checkpoint/" in frame.filename for frame in frames)


class _DropOrbaxReadLeftovers(logging.Filter):
  """Drops asyncio's "exception was never retrieved" records of orbax reads."""

  def filter(self, record: logging.LogRecord) -> bool:
    error = record.exc_info[1] if record.exc_info else None
    return error is None or not _from_orbax_read(error, error.__traceback__)


_DROP_ORBAX_READ_LEFTOVERS = _DropOrbaxReadLeftovers()  # Added at most once.


def _ignore_failed_read_leftovers() -> None:
  """Drops the leftovers of a failed orbax read (`_from_orbax_read`).

  When one array of a restore fails, orbax closes its event loop while the
  other arrays' reads are in flight; each read that finishes later reports a
  RuntimeError (or its own read error) through `sys.unraisablehook`, or, for a
  future nobody awaited any more, through the `asyncio` logger when it is
  garbage-collected (after the one-line error was printed). Either would bury
  the one-line error under tracebacks. Other unraisable errors and log
  records still come through.
  Installed once per process, before the first read.
  """
  previous = sys.unraisablehook
  if getattr(previous, "ignores_closed_event_loop", False):
    return

  def hook(unraisable):
    if not _from_orbax_read(unraisable.exc_value, unraisable.exc_traceback):
      previous(unraisable)

  hook.ignores_closed_event_loop = True
  sys.unraisablehook = hook
  logging.getLogger("asyncio").addFilter(_DROP_ORBAX_READ_LEFTOVERS)


@contextlib.contextmanager
def explained(item_dir: epath.PathLike, damaged_fix: str,
              mismatch_fix: str | None = None) -> Iterator[None]:
  """Re-raises a damaged file (or a mismatch) under `item_dir` as CheckpointError.

  Args:
    item_dir: what is being read, named when the error names no file.
    damaged_fix: the advice for a damaged file (end of the message).
    mismatch_fix: the advice for a saved tree unlike the requested one; None
      leaves such errors as they are.
  """
  _ignore_failed_read_leftovers()
  try:
    yield
  except CheckpointError:
    raise
  except Exception as error:  # Re-raised unless recognized below.
    damage = _damage(error)
    if damage is not None:
      reason, path = damage
      raise CheckpointError(
          f"{path or item_dir}: the checkpoint is damaged ({reason}); "
          f"{damaged_fix}") from error
    what = _mismatch(error) if mismatch_fix else None
    if what is not None:
      raise CheckpointError(f"{item_dir} holds {what}; {mismatch_fix}") from error
    raise
