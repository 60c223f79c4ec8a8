"""The one training loop (accelerate) and the stage tasks that plug into it (stage 1: vision)."""
