"""The `--config` default of `eval.py` and `predict`: the checkpoint's own config.

Without `--config`, those commands use the config stored with the checkpoint
(`slowfast_jax.checkpoint_config`) and apply only the command line's
`--config.FIELD=VALUE` overrides to it. `get_config` exists so that the
overrides parse: it has every field of a preset (with the release's values,
which are not used).
"""

import os

from slowfast_jax import config_lib

PATH = os.path.abspath(__file__)
FLAG_HELP = ("Config file (configs/NAME.py) of the checkpoint's model, to "
             "replace the config stored with the checkpoint (the default); "
             "--config.FIELD=VALUE overrides either.")


def get_config():
  return config_lib.kinetics_config(config_lib.model_config())
