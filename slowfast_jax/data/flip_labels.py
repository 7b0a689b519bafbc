"""Which class a horizontally flipped video shows (label-aware flip).

A left-right mirror turns "Pushing something from left to right" into
"Pushing something from right to left". `flip_permutation` maps every class
to the class of its mirror image: the class whose name is the class's own
with the words "left" and "right" swapped, when there is such a class;
otherwise the class itself. So a "right" that is not a direction ("pulling
it right out") stays, and so does a word that only contains one ("upright").
Words are matched whole and in any case; `_` and other non-letters separate
words ("left_fast").
"""

import re
from typing import Sequence

import numpy as np

_SIDE = re.compile(r"(?<![A-Za-z])(left|right)(?![A-Za-z])", re.IGNORECASE)
_SWAP = {"left": "right", "right": "left"}


def _swap_word(match: re.Match) -> str:
  word = match.group(0)
  other = _SWAP[word.lower()]
  if word.isupper():
    return other.upper()
  return other.capitalize() if word[0].isupper() else other


def mirror_name(name: str) -> str:
  """`name` with every whole word "left" and "right" swapped (case kept)."""
  return _SIDE.sub(_swap_word, name)


def flip_permutation(class_names: Sequence[str]) -> np.ndarray:
  """`perm` (int32 `(num_classes,)`): a flipped video of class c shows
  class `perm[c]`.

  `perm` is its own inverse (pairs swapped, other classes fixed).

  Raises:
    ValueError: duplicate class names.
  """
  index = {name: i for i, name in enumerate(class_names)}
  if len(index) != len(class_names):
    raise ValueError("flip_permutation: duplicate class names")
  return np.asarray([index.get(mirror_name(name), i)
                     for i, name in enumerate(class_names)], np.int32)


def flip_pairs(class_names: Sequence[str]) -> list[tuple[str, str]]:
  """The classes a flip swaps, each pair once: `[(name, mirror name)]`."""
  perm = flip_permutation(class_names)
  return [(class_names[i], class_names[j]) for i, j in enumerate(perm)
          if i < j]
