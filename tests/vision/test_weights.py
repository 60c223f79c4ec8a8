"""The importer for published CNN weights, on a state dict built in the spec's layout."""

from __future__ import annotations

import pytest
import torch

from livefit.vision.cnn import CNNConfig, FrameClassifier
from livefit.vision.weights import WeightsError, load_published

# The architecture table of shared/spec/stream-vlm.md, rows 1-30, written out again here (not
# taken from livefit.vision.cnn) as (in, out, kernel, expand, shift).
ROWS = [
    (32, 24, 3, 1, 0),
    (24, 32, 3, 6, 0),
    (32, 32, 3, 6, 1),
    (32, 32, 3, 6, 0),
    (32, 32, 3, 6, 0),
    (32, 56, 5, 6, 0),
    (56, 56, 5, 6, 1),
    (56, 56, 5, 6, 0),
    (56, 56, 5, 6, 0),
    (56, 112, 3, 6, 0),
    (112, 112, 3, 6, 1),
    (112, 112, 3, 6, 0),
    (112, 112, 3, 6, 0),
    (112, 112, 3, 6, 1),
    (112, 112, 3, 6, 0),
    (112, 160, 5, 6, 0),
    (160, 160, 5, 6, 1),
    (160, 160, 5, 6, 0),
    (160, 160, 5, 6, 0),
    (160, 160, 5, 6, 1),
    (160, 160, 5, 6, 0),
    (160, 272, 5, 6, 0),
    (272, 272, 5, 6, 1),
    (272, 272, 5, 6, 0),
    (272, 272, 5, 6, 1),
    (272, 272, 5, 6, 0),
    (272, 272, 5, 6, 0),
    (272, 272, 5, 6, 0),
    (272, 272, 5, 6, 0),
    (272, 448, 3, 6, 0),
]


def published_layout(classes: int = 3031) -> dict[str, torch.Tensor]:
    """A random state dict with the published key names and shapes, prefixed ``module.``."""
    g = torch.Generator().manual_seed(0)
    state: dict[str, torch.Tensor] = {}

    def add(name, *shape):
        state[f"module.{name}.weight"] = torch.randn(*shape, generator=g)
        state[f"module.{name}.bias"] = torch.randn(shape[0], generator=g)

    add("cnn.0.0", 32, 3, 3, 3)
    for block, (cin, cout, k, expand, shift) in enumerate(ROWS, start=1):
        hidden, i = cin * expand, 0
        if expand != 1:  # expansion ConvReLU; a shift conv sees 3 frames on channels
            add(f"cnn.{block}.conv.0.0", hidden, cin * (3 if shift else 1), 1, 1)
            i = 1
        add(f"cnn.{block}.conv.{i}.0", hidden, 1, k, k)  # depthwise ConvReLU
        add(f"cnn.{block}.conv.{i + 1}", cout, hidden, 1, 1)  # projection
    add("cnn.31.0", 1280, 448, 1, 1)
    add("2.1", classes, 1280)  # Sequential(Dropout, Linear) is the third child
    return state


def test_import_by_name_is_exact_and_complete(tmp_path):
    state = published_layout()
    torch.save(state, tmp_path / "published.ckpt")
    model, report = load_published(tmp_path / "published.ckpt", CNNConfig())
    assert report.missing == [] and report.unexpected == [] and report.by_position == []
    assert report.head_classes == 3031
    ours = model.state_dict()
    assert len(report.by_name) == len(ours) == len(state) - 2
    for key, value in state.items():
        if ".cnn." in f".{key}":
            torch.testing.assert_close(ours[key.removeprefix("module.")], value)


def test_other_names_fall_back_to_position_and_shape_and_are_reported(tmp_path):
    state = published_layout(classes=7)
    renamed = {}
    for key, value in state.items():
        # A different naming scheme for block 3's temporal conv (no ".0" wrapper).
        renamed[key.replace("cnn.3.conv.0.0.", "cnn.3.conv.temporal.")] = value
    del renamed["module.cnn.31.0.bias"]
    renamed["module.cnn.99.extra.weight"] = torch.zeros(5)
    torch.save({"state_dict": renamed}, tmp_path / "renamed.pt")
    net, report = load_published(tmp_path / "renamed.pt", CNNConfig(), with_head=True)
    assert isinstance(net, FrameClassifier)
    assert ("cnn.3.conv.temporal.weight", "cnn.3.conv.0.0.weight") in report.by_position
    torch.testing.assert_close(
        net.backbone.cnn[3].conv[0][0].weight, state["module.cnn.3.conv.0.0.weight"]
    )
    assert report.missing == ["cnn.31.0.bias"]
    assert report.unexpected == ["cnn.99.extra.weight"]
    torch.testing.assert_close(net.head[1].weight, state["module.2.1.weight"])
    assert "missing (1)" in report.summary()


class Payload:
    """An arbitrary class: ``weights_only=True`` must refuse to unpickle it."""


def test_unsafe_or_broken_files_are_refused(tmp_path):
    torch.save({"x": Payload()}, tmp_path / "evil.pt")
    with pytest.raises(WeightsError, match="evil.pt"):
        load_published(tmp_path / "evil.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="junk.pt"):
        load_published(tmp_path / "junk.pt")
