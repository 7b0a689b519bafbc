"""Class scores over time for long videos: records, a chart, an overlay video.

The scores come from `windows.iter_video_outputs` with the scorer's release
test output per window (`predict --timeline`): a `VideoOutputs` whose
`outputs` are `(windows, classes)` probabilities. Here they become a JSON
record (top-k per window with its start and end in seconds), text lines, a
timeline chart (the leading classes' scores over time above a band of the
top-1 class) and a copy of the video with the current top classes drawn on
each frame (the window whose centre is nearest the frame's time).
"""

import os
from typing import Any, Iterator, Sequence

from etils import epath
import matplotlib

matplotlib.use("Agg")  # Files only: no display on servers.
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np

from slowfast_jax import class_names
from slowfast_jax.data import decode
from slowfast_jax.evaluation import overlay
from slowfast_jax.evaluation import windows

DPI = 150


def timeline_record(result: windows.VideoOutputs, names: Sequence[str],
                    k: int) -> dict[str, Any]:
  """JSON-ready: the video, the window settings, top-k per window."""
  spec = result.spec
  return dict(
      video=result.path, num_frames=int(result.num_frames), fps=spec.fps,
      window_frames=spec.window_frames, stride_frames=spec.stride_frames,
      windows=[dict(start=float(start), end=float(end),
                    top=[{"class": n, "score": s}
                         for n, s in class_names.top_k(scores, names, k)])
               for start, end, scores in zip(result.start_seconds,
                                             result.end_seconds,
                                             result.outputs)])


def format_record(record: dict[str, Any]) -> list[str]:
  """Text lines: the video, then `start-end  score name | ...` per window."""
  lines = [f"{record['video']}  ({len(record['windows'])} windows of "
           f"{record['window_frames']} frames at {record['fps']:g} fps)"]
  for window in record["windows"]:
    top = " | ".join(f"{t['score']:.3f} {t['class']}" for t in window["top"])
    lines.append(f"  {_clock(window['start'])}-{_clock(window['end'])}  {top}")
  return lines


def _clock(seconds: float) -> str:
  minutes, seconds = divmod(seconds, 60.0)
  return f"{int(minutes)}:{seconds:05.2f}"


def leading_classes(scores: np.ndarray, limit: int) -> np.ndarray:
  """Up to `limit` classes to chart: every top-1 class first (by how many
  windows it wins), then the highest peak scores."""
  top1, wins = np.unique(scores.argmax(axis=1), return_counts=True)
  chosen = list(top1[np.argsort(-wins, kind="stable")])
  for c in np.argsort(-scores.max(axis=0), kind="stable"):
    if c not in chosen:
      chosen.append(c)
  return np.array(chosen[:limit])


def plot_timeline(result: windows.VideoOutputs, names: Sequence[str],
                  path: epath.PathLike, *, max_classes: int = 6) -> None:
  """Chart: leading classes' scores per window over time, top-1 band below."""
  scores = np.asarray(result.outputs, np.float64)
  classes = leading_classes(scores, max_classes)
  starts, ends = result.start_seconds, result.end_seconds
  centres = (starts + ends) / 2
  duration = result.num_frames / result.spec.fps
  width = float(np.clip(duration / 4, 8, 20))  # Inches.
  fig, (ax, band) = plt.subplots(
      2, 1, sharex=True, figsize=(width, 4.5),
      gridspec_kw=dict(height_ratios=[5, 1], hspace=0.08))
  colours = plt.get_cmap("tab10")
  for i, c in enumerate(classes):
    ax.plot(centres, scores[:, c], marker="o", markersize=3, linewidth=1.5,
            color=colours(i % 10), label=names[c])
  # Scaled to the charted scores (at least 0.1), so low scores stay visible.
  ax.set_ylim(0, float(np.clip(scores[:, classes].max() * 1.1, 0.1, 1.02)))
  ax.set_ylabel("score (window)")
  ax.grid(linewidth=0.3)
  ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8,
            frameon=False)
  spec = result.spec
  ax.set_title(f"{os.path.basename(result.path)}: {len(scores)} windows of "
               f"{spec.window_frames / spec.fps:.2f} s every "
               f"{spec.stride_frames / spec.fps:.2f} s", fontsize=10)
  # Top-1 band: each window owns the time nearest its centre.
  edges = np.concatenate([[0.0], (centres[1:] + centres[:-1]) / 2,
                          [duration]])
  colour_of = {c: colours(i % 10) for i, c in enumerate(classes)}
  for i, c in enumerate(scores.argmax(axis=1)):
    band.axvspan(edges[i], edges[i + 1], color=colour_of.get(c, "0.7"),
                 linewidth=0)
  band.set_yticks([])
  band.set_ylabel("top-1", rotation=0, ha="right", va="center")
  band.set_xlim(0, duration)
  band.set_xlabel("time (s)")
  # Fixed margins in inches: 0.8 left for the labels, 2.2 right (legend).
  fig.subplots_adjust(left=0.8 / width, right=1 - 2.2 / width, top=0.9,
                      bottom=0.14)
  with epath.Path(path).open("wb") as f:
    fig.savefig(f, format="png", dpi=DPI)
  plt.close(fig)


def nearest_window(times: np.ndarray, result: windows.VideoOutputs
                   ) -> np.ndarray:
  """For each time (seconds), the window whose centre is nearest (int)."""
  centres = (result.start_seconds + result.end_seconds) / 2
  right = np.clip(np.searchsorted(centres, times), 1, max(len(centres) - 1, 1))
  left = right - 1
  if len(centres) == 1:
    return np.zeros(len(times), int)
  closer_left = times - centres[left] <= centres[right] - times
  return np.where(closer_left, left, right)


def overlay_frames(result: windows.VideoOutputs, names: Sequence[str], k: int
                   ) -> Iterator[np.ndarray]:
  """Every source frame (source size) with the current top-k drawn."""
  rate = overlay.source_rate(result.path)
  labels = {}
  for i, frame in enumerate(decode.iter_decoded(result.path, fps=None,
                                                short_side=None)):
    w = int(nearest_window(np.array([float(i / rate)]), result)[0])
    if w not in labels:
      lines = [f"{s:.2f} {n}"
               for n, s in class_names.top_k(result.outputs[w], names, k)]
      labels[w] = overlay.label_image(lines, frame.shape[0])
    yield overlay.draw_label(frame, labels[w])


def write_overlay(result: windows.VideoOutputs, names: Sequence[str],
                  path: str, *, k: int = 3) -> int:
  """Writes the video with its current top-k classes drawn (H.264 mp4).

  Same frame count and frame rate as the source (`overlay.write_video`).
  Returns the number of frames written.
  """
  return overlay.write_video(overlay_frames(result, names, k), path,
                             overlay.source_rate(result.path))
