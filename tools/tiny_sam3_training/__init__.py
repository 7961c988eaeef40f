"""Training a tiny SAM 3 from scratch on synthetic scenes (dev tooling: tools/train_tiny_sam3.py)."""
