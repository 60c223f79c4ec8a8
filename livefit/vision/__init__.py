"""Vision front ends: 16 fps frames -> the feature steps the language model reads.

- ``front_end``: the ``FrontEnd`` base class, the registry of types and the one folder format;
  ``front_ends``: the built-in types registered (``cnn``, ``per_frame``, ``pose``).
- ``preprocess``: decoding, the capture-clock 16 fps resampling, the paper's crop and resize.
- ``cnn``: the causal 3D CNN (clip and streaming); ``weights``: published weights import;
  ``activity``: the stage-1 activity head read off the features.
- ``pose``: the causal pose encoder; ``pose_estimator``: MediaPipe Pose through LiteRT;
  ``pose_residuals``: the estimator's recorded errors, as training noise.
- ``extract``: the ``features extract`` job (resumable, sharded, provenance);
  ``cnn_extract`` / ``pose_extract``: one video through each front end; ``jobs``: the videos.
- ``errors``: torch-free error types; ``cli``: ``livefit features extract``.
"""
