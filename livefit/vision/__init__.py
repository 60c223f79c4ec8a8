"""The causal 3D CNN: preprocessing, the streaming network, weights, feature extraction."""
