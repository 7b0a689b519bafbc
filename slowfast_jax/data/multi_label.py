"""Multi-hot labels of prepared multi-label videos (Charades), in TensorFlow.

A multi-label example (`builder.multi_label_features`) holds the video's
classes and, per action, the first and last stored frame it covers. As the
release (datasets/charades.py): a training clip's labels are the classes of
the actions covering any frame from its first index to its last (both
included); validation and test clips carry the video's labels.
"""

import tensorflow as tf

# `tf.io.parse_example` features of a multi-label example, besides its
# frames' place (`builder.frame_features`) and `video_id`.
PARSE_SPEC = {
    "labels": tf.io.RaggedFeature(tf.int64),
    "action_class": tf.io.RaggedFeature(tf.int64),
    "action_first_frame": tf.io.RaggedFeature(tf.int64),
    "action_last_frame": tf.io.RaggedFeature(tf.int64),
}


def multi_hot(classes, num_classes: int) -> tf.Tensor:
  """int32 `(num_classes,)`: 1 at each of `classes` (repeats allowed)."""
  classes = tf.cast(classes, tf.int32)
  tf.debugging.assert_less(
      classes, num_classes,
      message=f"a label exceeds config.model.num_classes={num_classes}")
  counts = tf.scatter_nd(classes[:, None], tf.ones_like(classes),
                         [num_classes])
  return tf.minimum(counts, 1)


def video_labels(example, num_classes: int) -> tf.Tensor:
  """The video's multi-hot labels (int32 `(num_classes,)`)."""
  return multi_hot(example["labels"], num_classes)


def clip_labels(example, indices, num_classes: int) -> tf.Tensor:
  """Multi-hot labels (int32 `(num_classes,)`) of the clip whose stored
  frames are `indices`: the actions covering a frame in
  `[min(indices), max(indices)]`."""
  first = tf.cast(tf.reduce_min(indices), tf.int64)
  last = tf.cast(tf.reduce_max(indices), tf.int64)
  overlaps = ((example["action_first_frame"] <= last) &
              (example["action_last_frame"] >= first))
  return multi_hot(tf.boolean_mask(example["action_class"], overlaps),
                   num_classes)
