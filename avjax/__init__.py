"""avjax: self-supervised audio-visual learning in JAX/Flax."""

__version__ = "0.1.0"
