"""slowfast-jax: SlowFast video networks (Feichtenhofer et al., ICCV 2019) in JAX/Flax."""

__version__ = "0.1.0"
