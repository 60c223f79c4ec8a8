"""Baselines and floors that coaches are compared with (``periodic``: generic encouragement at
fixed intervals), all with the streaming engine's interface.

Importing this package registers the built-in coaches in ``livefit.stream.coaches``, the
registry ``livefit predict`` and ``livefit benchmark`` look names up in (the stream layer never
imports this one): ``silent``, ``periodic`` and ``oracle-coach`` by name, ``socratic:SPEC`` and
``turn:SPEC`` by prefix. The order of registration is the order of the names in messages. No
model is loaded here: each coach loads its own when it is built.
"""

from livefit.baselines.coaches import PeriodicCoach, SilentCoach
from livefit.baselines.oracle import OracleCoach
from livefit.baselines.socratic import SocraticCoach
from livefit.baselines.turn_based import TurnBasedCoach
from livefit.stream.coaches import register_coach, register_spec

register_coach("silent", SilentCoach)
register_coach("periodic", PeriodicCoach)
register_coach("oracle-coach", OracleCoach)  # QEVD-SIM only
register_spec(
    "socratic", "http://HOST:PORT/v1[#MODEL] or a local LM folder", SocraticCoach.from_spec
)
register_spec(
    "turn",
    "http://HOST:PORT/v1[#MODEL] (an OpenAI-compatible multimodal endpoint) or PATH (a local "
    "Hugging Face image-text model)",
    TurnBasedCoach.from_spec,
)
