"""What the engine decoded, to hold every app's output against: ``record_lines(monkeypatch)``
returns a list that fills with ``(decoding of the feedback's tokens, the feedback's text)`` for
every non-empty feedback any engine session finishes, in order. Import as ``from feedback_lines
import ...`` (``tests/`` is on ``sys.path``, as for ``qevd_fixture``)."""

from __future__ import annotations

from typing import Any


def record_lines(monkeypatch: Any) -> list[tuple[str, str]]:
    from livefit.stream.engine import Session

    lines: list[tuple[str, str]] = []
    finish = Session._finish

    def recorded(self: Session, fb: Any, end: int):
        if fb.text:
            lines.append((self.engine.tokenizer.decode(fb.ids), fb.text))
        yield from finish(self, fb, end)

    monkeypatch.setattr(Session, "_finish", recorded)
    return lines


def starts_a_sentence(text: str) -> bool:
    """No leading space, no word piece: a capital letter, a digit or an opening quote."""
    return text[:1].isupper() or text[:1].isdigit() or (text[:1] != "" and text[:1] in '"“‘(')


def assert_said_as_decoded(said: list[str], lines: list[tuple[str, str]]) -> None:
    """Each line an app reported is exactly its tokens' decoding, in the engine's order, and
    begins a sentence (the live coach's ``sentence_start``)."""
    assert said, "nothing was said"
    assert [text for text, _ in lines] == [text for _, text in lines]
    assert said == [text for text, _ in lines]
    assert all(starts_a_sentence(text) for text in said), said
