"""The live coach's faces: ``livefit demo``, ``coach`` and ``serve``, thin layers over the live
pipeline (``livefit.stream.live``).

- ``demo`` (``cli``): the bundled coach on a synthetic workout it has never seen, live;
  ``coach`` (``coach_cli``): the live coach on a video file or a camera (``camera``).
- ``runner``: one live run, shared by both: captions and console lines, speech (``speech``), an
  optional window (``window``), the ``--out`` files (``recorder``: the annotated mp4 and the
  events; ``report_html``: the report of a run on a synthetic workout); ``overlay``: the caption
  state and the annotated frame.
- ``serve`` (``serve_cli``): the web app (``server``, the page in ``static/``): ``access`` (the
  Host, Origin and token checks), ``limits`` (what one server accepts, the rate limiter),
  ``serve_state`` (the state the endpoints share), ``session`` (one WebSocket session),
  ``frames`` (the wire format), ``upload`` (``POST /upload``: a whole video coached),
  ``serve_log`` (JSON-lines logs).
"""
