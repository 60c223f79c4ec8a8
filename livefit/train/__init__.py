"""Training: every stage from synthetic data to an evaluated, bundled coach, on one loop.

- ``loop``: ``fit``, the one training loop of every stage (``accelerate``, checkpoints, exact
  resume, EMA); ``checkpoint``: its checkpoint folders; ``rng``: the global RNGs a checkpoint
  holds; ``stage``: what every stage shares around ``fit`` (the run folder's config, timing,
  ``summary.json``, the stage CLIs' options).
- Stage 1, on the short clips' fine-grained labels: ``vision_stage`` (the causal 3D CNN) or
  ``pose_stage`` (the causal pose encoder); ``report``: their per-class report and confusion
  matrix.
- Stages 2 and 3, the language model learns to coach (clips, then long-range workouts):
  ``coach_stage``; ``coach_data``: its sequences and batches; ``coach_eval``: a trained coach on
  an unseen split, beside its floor and control.
- ``socratic_stage``: our Socratic LM, trained on text descriptions of what the CNN sees.
- ``pipeline``: ``livefit train --preset``, every step in one command; ``run_report``: its
  report and the coach's model card; ``bundle``: a trained coach shipped inside the package.
- ``variants``: the paper's ablations (Table 4) trained from a finished run;
  ``benchmark_preset``: ``livefit benchmark --preset``, which trains and benchmarks them.
- ``cli``: ``livefit train`` (``vision``, ``clips``, ``long-range``, ``evaluate``, ``--preset``)
  and ``livefit benchmark``.
"""
