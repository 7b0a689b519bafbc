r"""Fine-tuning the demo model on your own videos (docs/finetuning.md).

  python train.py --config configs/finetune.py --workdir RUN \
      --config.init_from=PRETRAINED --config.data.data_dir=DATA \
      --config.data.name=NAME --config.model.num_classes=N

The network, clips and crops are the demo's (configs/demo.py); `init_from`
is a checkpoint of it (a train.py --workdir, or a converted checkpoint) and
the classifier is new (`init_head='reinit'`), sized by `model.num_classes`:
the number of class sub-folders of the prepared dataset NAME in DATA. The
learning rate is half the demo's, for 20 epochs of your training videos;
like every rate here it is given for `optim.base_batch_size` clips and
scaled linearly to `global_batch_size` (the release's rule). Options (off here):
`--config.finetune.frozen_bn=True --config.precise_bn.enabled=False` keeps
the checkpoint's BatchNorm statistics, `--config.finetune.frozen_stages=K`
leaves the stems and res2..resK unchanged. `--config.init_from=` trains the
same recipe from scratch.
"""

import os
import sys

import ml_collections

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import demo  # pylint: disable=g-import-not-at-top,wrong-import-position


def get_config():
  config = demo.demo_config("slowfast")
  # Required on the command line (validate.py names each one if missing).
  config.init_from = ml_collections.FieldReference(None, field_type=str)
  config.model.num_classes = ml_collections.FieldReference(None,
                                                           field_type=int)
  config.data.name = ml_collections.FieldReference(None, field_type=str)
  config.data.data_dir = ml_collections.FieldReference(None, field_type=str)
  config.data.generate_demo = False
  config.init_head = "reinit"

  config.num_epochs = 20
  config.optim.base_lr = 0.2  # 0.05 at batch 16: half the demo's.
  config.optim.warmup_start_lr = 0.02
  return config
