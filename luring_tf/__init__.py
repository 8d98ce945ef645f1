"""luring-tf: protect a trained Keras classifier M with a luring component P (T = M∘P)."""

__version__ = "0.1.0"
