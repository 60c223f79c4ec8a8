"""The causal 3D CNN (StridedInflatedEfficientNet) that turns 16 fps frames into 4 feature steps/s.

Third stage of the flow: preprocessed frames (``livefit.vision.preprocess``) -> this network ->
feature maps ``[C, h, w]`` (paper: 1280 x 7 x 5), one per 0.25 s, consumed by the language model
(cross-attention) and by the stage-1 frame classifier.

Architecture (shared/spec/stream-vlm.md): MobileNetV2-style inverted residual (IR) blocks, no
batch norm, ReLU6. In "shift" blocks the 1x1 expansion conv is a causal temporal conv of kernel 3
over (frame t-2, t-1, t), stored like the reference as a ``Conv2d(3 * C_in, C_out, 1)`` over the
channel-concatenated frames, oldest first; "t-stride" blocks keep only the odd global frame
indices (1, 3, 5, ...), so after two of them step k consumes video frames up to ``4k + 3``.

Time is explicit: every call takes ``[B, T, 3, H, W]`` plus a ``CNNState`` (the last two input
frames of each temporal conv and its frame counter; zeros at stream start) and returns the new
state, so clip mode (``T`` frames at once) and streaming (``T = 1``) run the same code and give the
same features, and many streams can share one model. The state has a fixed size: the cost of a
frame does not grow with the stream length.

The module tree mirrors the reference (``cnn.<block>.0.weight`` for plain convs,
``cnn.<block>.conv.<i>[.0].weight`` inside IR blocks) so published weights load by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass(frozen=True)
class BlockSpec:
    """One inverted residual block (a row of the architecture table)."""

    out_channels: int  # output channels at width multiplier 1.0
    kernel: int = 3  # depthwise spatial kernel size
    stride: int = 1  # depthwise spatial stride (1 or 2)
    expand: int = 6  # expansion ratio; 1 = no expansion conv
    shift: bool = False  # expansion conv is a causal temporal conv over frames t-2, t-1, t
    t_stride: bool = False  # keep every second frame (needs shift)


def _b(
    out: int,
    kernel: int = 3,
    stride: int = 1,
    expand: int = 6,
    shift: bool = False,
    t_stride: bool = False,
) -> BlockSpec:
    return BlockSpec(out, kernel, stride, expand, shift, t_stride)


# Rows 1-30 of the table in stream-vlm.md (row 0 is the stem conv, row 31 the feature conv).
PAPER_BLOCKS: tuple[BlockSpec, ...] = (
    _b(24, 3, 1, 1),
    _b(32, 3, 2),
    _b(32, 3, 1, shift=True),
    _b(32),
    _b(32),
    _b(56, 5, 2),
    _b(56, 5, 1, shift=True, t_stride=True),
    _b(56, 5),
    _b(56, 5),
    _b(112, 3, 2),
    _b(112, 3, 1, shift=True),
    _b(112),
    _b(112),
    _b(112, 3, 1, shift=True, t_stride=True),
    _b(112),
    _b(160, 5),
    _b(160, 5, 1, shift=True),
    _b(160, 5),
    _b(160, 5),
    _b(160, 5, 1, shift=True),
    _b(160, 5),
    _b(272, 5, 2),
    _b(272, 5, 1, shift=True),
    _b(272, 5),
    _b(272, 5, 1, shift=True),
    _b(272, 5),
    _b(272, 5),
    _b(272, 5),
    _b(272, 5),
    _b(448, 3),
)


@dataclass(frozen=True)
class CNNConfig:
    """Architecture of the causal 3D CNN; the defaults are the paper's network."""

    stem_channels: int = 32  # output channels of the 3x3 stride-2 stem conv (before width mult.)
    blocks: tuple[BlockSpec, ...] = PAPER_BLOCKS  # the inverted residual blocks, in order
    feature_channels: int = 1280  # channels of the last 1x1 conv = the feature size (not scaled)
    width_multiplier: float = 1.0  # scales stem and block channels (rounded to multiples of 8)
    input_height: int = 224  # preprocessed frame height (paper 224)
    input_width: int = 160  # preprocessed frame width (paper 160)
    fps: int = 16  # input frame rate the temporal strides assume
    warmup_frames: int = 12  # extra copies of the first frame fed at stream start (reference: 12)
    # Per-frame GroupNorm after the stem, expansion and depthwise convs: "none" (the paper; no
    # normalisation) or "group" (small variants trained from scratch on a CPU budget). It
    # normalises each frame on its own, so the network stays causal and streaming == clip.
    norm: str = "none"
    norm_groups: int = 8  # GroupNorm groups (channels are multiples of 8)
    # Frames per input frame kept: 1 (the paper) or, for a per-frame 2D encoder (the "w/o 3D CNN"
    # ablation: no shift blocks), 4: only every 4th frame (4k + 3, the last of each step) is
    # encoded, on its own, so step k sees that one frame and nothing of the motion around it.
    frame_stride: int = 1

    def __post_init__(self) -> None:
        if self.norm not in ("none", "group", "batch"):
            raise ValueError(
                f"CNNConfig.norm must be 'none', 'group' or 'batch', got {self.norm!r}"
            )
        if not self.blocks:
            raise ValueError("CNNConfig.blocks must not be empty")
        for i, block in enumerate(self.blocks):
            if block.t_stride and not block.shift:
                raise ValueError(f"CNNConfig.blocks[{i}]: t_stride needs shift")
            if block.shift and block.expand == 1:
                raise ValueError(f"CNNConfig.blocks[{i}]: shift needs expand > 1")
            if block.stride not in (1, 2):
                raise ValueError(f"CNNConfig.blocks[{i}]: stride must be 1 or 2")
        if self.frame_stride < 1:
            raise ValueError(f"CNNConfig.frame_stride must be >= 1, got {self.frame_stride}")
        if self.frame_stride > 1 and any(block.shift for block in self.blocks):
            raise ValueError(
                "CNNConfig.frame_stride > 1 is for per-frame (2D) encoders: no shift blocks"
            )
        if self.warmup_frames % self.frames_per_step:
            raise ValueError(
                f"CNNConfig.warmup_frames ({self.warmup_frames}) must be a multiple of "
                f"frames_per_step ({self.frames_per_step})"
            )

    @property
    def frames_per_step(self) -> int:
        """Input frames per output feature step (``frame_stride`` * 2 ** number of t-stride
        blocks; paper 4)."""
        return self.frame_stride * 2 ** sum(block.t_stride for block in self.blocks)

    @property
    def per_frame(self) -> bool:
        """True for a 2D encoder: each step is computed from one frame alone (no shift block)."""
        return not any(block.shift for block in self.blocks)

    @property
    def steps_per_second(self) -> float:
        return self.fps / self.frames_per_step

    def channels(self, base: int) -> int:
        return max(8, int(round(base * self.width_multiplier / 8)) * 8)

    @property
    def feature_shape(self) -> tuple[int, int, int]:
        """``(C, h, w)`` of one feature step (paper 1280 x 7 x 5)."""
        h, w = _conv_out(self.input_height, 3, 2), _conv_out(self.input_width, 3, 2)
        for block in self.blocks:
            k, s = block.kernel, block.stride
            h, w = _conv_out(h, k, s), _conv_out(w, k, s)
        return (self.feature_channels, h, w)


def _conv_out(size: int, kernel: int, stride: int) -> int:
    return (size + 2 * ((kernel - 1) // 2) - kernel) // stride + 1


def _norm(channels: int, groups: int) -> list[nn.Module]:
    """``[GroupNorm]`` for ``groups`` > 0, ``[BatchNorm2d]`` for -1, else nothing (the paper)."""
    if groups == -1:
        return [nn.BatchNorm2d(channels)]
    return [nn.GroupNorm(min(groups, channels), channels)] if groups else []


class ConvReLU(nn.Sequential):
    """Conv2d (+ GroupNorm, option) + ReLU6 (keys ``0.weight``, ``0.bias`` as in the reference)."""

    def __init__(
        self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1, norm: int = 0
    ):
        super().__init__(
            nn.Conv2d(cin, cout, kernel, stride, padding=(kernel - 1) // 2, groups=groups),
            *_norm(cout, norm),
            nn.ReLU6(),
        )


@dataclass
class TemporalState:
    """State of one causal temporal conv for a batch of streams."""

    previous: Tensor  # [B, 2, C, H, W]: input frames t-2 and t-1 (zeros before the stream)
    seen: int = 0  # frames this conv has consumed so far (decides which ones a t-stride keeps)


@dataclass
class CNNState:
    """Everything a stream carries between calls: one ``TemporalState`` per shift block."""

    temporal: dict[int, TemporalState] = field(default_factory=dict)  # block index -> state
    frames_seen: int = 0  # input frames consumed since the stream start (warm-up included)

    def nbytes(self) -> int:
        return sum(s.previous.numel() * s.previous.element_size() for s in self.temporal.values())


class CausalTemporalConv(nn.Sequential):
    """Causal temporal conv (kernel 3) + ReLU6; a t-stride variant keeps odd frame indices.

    The weight is a ``Conv2d(3 * C_in, C_out, 1)`` over ``cat(x[t-2], x[t-1], x[t])`` on channels,
    exactly the reference's ``SteppableConv3dAs2d`` layout.
    """

    def __init__(self, cin: int, cout: int, t_stride: bool, norm: int = 0):
        super().__init__(nn.Conv2d(3 * cin, cout, 1), *_norm(cout, norm), nn.ReLU6())
        self.cin, self.t_stride = cin, t_stride

    def kept(self, seen: int, t: int) -> list[int]:
        """Local indices of the frames of a ``t``-frame chunk that produce an output."""
        if not self.t_stride:
            return list(range(t))
        return [i for i in range(t) if (seen + i) % 2 == 1]

    def step(self, x: Tensor, state: TemporalState) -> tuple[Tensor, list[int], TemporalState]:
        # x: [B, T, C, H, W] -> y: [B, T', C_out, H, W] with T' = len(kept)
        full = torch.cat([state.previous, x], dim=1)  # [B, T + 2, C, H, W]
        kept = self.kept(state.seen, x.shape[1])
        new_state = TemporalState(full[:, -2:], state.seen + x.shape[1])
        if not kept:
            return x[:, :0], kept, new_state
        if len(kept) == x.shape[1]:
            windows = torch.cat([full[:, :-2], full[:, 1:-1], full[:, 2:]], dim=2)
        else:
            idx = torch.tensor(kept, device=x.device)
            windows = torch.cat([full[:, idx], full[:, idx + 1], full[:, idx + 2]], dim=2)
        b, t = windows.shape[:2]
        y = super().forward(windows.flatten(0, 1))  # [B*T', C_out, H, W]
        return y.unflatten(0, (b, t)), kept, new_state


class InvertedResidual(nn.Module):
    """Expansion (1x1 or causal temporal) -> depthwise -> 1x1 projection (+ residual)."""

    def __init__(self, cin: int, cout: int, spec: BlockSpec, norm: int = 0):
        super().__init__()
        hidden = round(cin * spec.expand)
        self.use_residual = spec.stride == 1 and cin == cout
        self.shift = spec.shift
        layers: list[nn.Module] = []
        if spec.expand != 1:
            if spec.shift:
                layers.append(CausalTemporalConv(cin, hidden, spec.t_stride, norm))
            else:
                layers.append(ConvReLU(cin, hidden, 1, norm=norm))
        layers.append(ConvReLU(hidden, hidden, spec.kernel, spec.stride, groups=hidden, norm=norm))
        layers.append(nn.Conv2d(hidden, cout, 1))
        self.conv = nn.Sequential(*layers)

    def forward(
        self, x: Tensor, state: TemporalState | None
    ) -> tuple[Tensor, TemporalState | None]:
        # x: [B, T, C, H, W] -> [B, T', C_out, H', W']
        b = x.shape[0]
        layers = list(self.conv)
        if self.shift:
            assert state is not None
            h, kept, state = layers[0].step(x, state)
            if not kept:
                return h, state  # nothing to emit on this frame (t-stride, even index)
            residual = x if len(kept) == x.shape[1] else x[:, kept]  # aligned on the last frame
            h = h.flatten(0, 1)
            layers = layers[1:]
        else:
            residual, h = x, x.flatten(0, 1)
        for layer in layers:
            h = layer(h)
        h = h.unflatten(0, (b, h.shape[0] // b))
        if self.use_residual:
            h = h + residual
        return h, state


class CausalCNN(nn.Module):
    """The StridedInflatedEfficientNet backbone: ``[B, T, 3, H, W]`` -> ``[B, T/4, C, h, w]``.

    ``self.cnn`` is ``Sequential(stem ConvReLU, IR blocks..., ConvReLU(-> feature_channels))``.
    The features returned are the last conv's output *before* its ReLU6 (what the LM consumes and
    what the release's ``_features.npy`` hold).
    """

    def __init__(self, config: CNNConfig | None = None):
        super().__init__()
        self.config = config = config or CNNConfig()
        stem = config.channels(config.stem_channels)
        norm = {"none": 0, "group": config.norm_groups, "batch": -1}[config.norm]
        modules: list[nn.Module] = [ConvReLU(3, stem, 3, stride=2, norm=norm)]
        cin = stem
        for spec in config.blocks:
            cout = config.channels(spec.out_channels)
            modules.append(InvertedResidual(cin, cout, spec, norm))
            cin = cout
        modules.append(ConvReLU(cin, config.feature_channels, 1))
        self.cnn = nn.Sequential(*modules)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Init for training from scratch without batch norm: He (fan-in) init before ReLU6,
        unit-gain projections, and zero projections in residual blocks so every residual block
        starts as the identity and the signal keeps its scale through 30 blocks."""
        for module in self.cnn.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
                nn.init.zeros_(module.bias)
        for module in self.cnn:
            if isinstance(module, InvertedResidual):
                projection = module.conv[-1]
                if module.use_residual:
                    nn.init.zeros_(projection.weight)
                else:
                    nn.init.kaiming_normal_(projection.weight, mode="fan_in", nonlinearity="linear")

    def initial_state(self, batch: int = 1, device: torch.device | str | None = None) -> CNNState:
        """Zero temporal state for ``batch`` fresh streams."""
        device = device or next(self.parameters()).device
        dtype = next(self.parameters()).dtype
        h, w = self.config.input_height, self.config.input_width
        temporal = {}
        for i, module in enumerate(self.cnn):
            if i == 0:
                h, w = _conv_out(h, 3, 2), _conv_out(w, 3, 2)
                continue
            if isinstance(module, InvertedResidual):
                if module.shift:
                    cin = module.conv[0].cin
                    zeros = torch.zeros(batch, 2, cin, h, w, device=device, dtype=dtype)
                    temporal[i] = TemporalState(zeros)
                dw = module.conv[-2][0]
                h = _conv_out(h, dw.kernel_size[0], dw.stride[0])
                w = _conv_out(w, dw.kernel_size[0], dw.stride[0])
        return CNNState(temporal)

    def warm_up(self, first: Tensor, state: CNNState | None = None) -> CNNState:
        """Stream start as in the reference: each stream's first frame ``[B, 1, 3, H, W]`` is fed
        ``config.warmup_frames`` times (the outputs are dropped); returns the state to go on from.
        The caller then feeds the stream from that same first frame on."""
        if state is None:
            state = self.initial_state(first.shape[0], first.device)
        n = self.config.warmup_frames
        if n:
            # Equal to ``self(first.expand(-1, n, ...), state)``: the per-frame layers before the
            # first temporal block see n equal frames, so they run once and their output repeats.
            _, state = self(first, state, repeat=n)
        return state

    def forward(
        self, frames: Tensor, state: CNNState | None = None, repeat: int = 1
    ) -> tuple[Tensor, CNNState]:
        """Run ``T`` more frames of ``B`` streams; returns ``(features, new state)``.

        frames: [B, T, 3, H, W] in [0, 1]; features: [B, n, C, h, w] for the ``n`` steps completed
        in this call (``n`` = T / 4 when the stream is aligned on steps; 0 or 1 for one frame).
        ``repeat`` > 1: each given frame stands for ``repeat`` equal frames in a row (``warm_up``).
        """
        b, t = frames.shape[:2]
        if state is None:
            state = self.initial_state(b, frames.device)
        stride = self.config.frame_stride
        if stride > 1:  # a per-frame encoder: keep the last frame of each step, drop the others
            if repeat > 1:  # warm-up copies: nothing to remember, nothing returned
                c, h, w = self.config.feature_shape
                return frames.new_zeros(b, 0, c, h, w), CNNState({}, state.frames_seen + t * repeat)
            kept = [i for i in range(t) if (state.frames_seen + i) % stride == stride - 1]
            seen = state.frames_seen + t
            if not kept:
                c, h, w = self.config.feature_shape
                return frames.new_zeros(b, 0, c, h, w), CNNState({}, seen)
            feats, _ = self._run(frames[:, kept], CNNState({}, 0), 1)
            return feats, CNNState({}, seen)
        return self._run(frames, state, repeat)

    def _run(self, frames: Tensor, state: CNNState, repeat: int) -> tuple[Tensor, CNNState]:
        b, t = frames.shape[:2]
        new_temporal = dict(state.temporal)
        x = frames.flatten(0, 1)  # [B*T, 3, H, W]
        if self.cnn[0][0].weight.is_contiguous(memory_format=torch.channels_last):
            x = x.contiguous(memory_format=torch.channels_last)  # model.to(channels_last) on CPU
        x = self.cnn[0](x)  # [B*T, C0, H/2, W/2]
        x = x.unflatten(0, (b, t))
        if repeat > 1:  # ``warm_up``: each frame stands for ``repeat`` equal frames in a row
            t *= repeat
        for i in range(1, len(self.cnn) - 1):
            if repeat > 1 and self.cnn[i].shift:
                x, repeat = x.repeat_interleave(repeat, dim=1), 1
            x, block_state = self.cnn[i](x, new_temporal.get(i))
            if block_state is not None:
                new_temporal[i] = block_state
            if x.shape[1] == 0:
                # No frame reaches the deeper blocks in this call: their state is unchanged.
                c, h, w = self.config.feature_shape
                empty = frames.new_zeros(b, 0, c, h, w)
                return empty, CNNState(new_temporal, state.frames_seen + t)
        if repeat > 1:
            x = x.repeat_interleave(repeat, dim=1)
        feats = self.cnn[-1][0](x.flatten(0, 1))  # last 1x1 conv, before its ReLU6
        return feats.unflatten(0, (b, -1)), CNNState(new_temporal, state.frames_seen + t)


class FrameClassifier(nn.Module):
    """Stage-1 classifier: backbone -> ReLU6 -> spatial mean -> Dropout -> Linear, per step.

    Mirrors the reference ``Sequential(cnn, spatial mean, Sequential(Dropout, Linear))``.
    """

    def __init__(self, config: CNNConfig, num_classes: int, dropout: float = 0.2):
        super().__init__()
        self.backbone = CausalCNN(config)
        linear = nn.Linear(config.feature_channels, num_classes)
        self.head = nn.Sequential(nn.Dropout(dropout), linear)

    def forward(self, frames: Tensor, state: CNNState | None = None) -> tuple[Tensor, CNNState]:
        # frames: [B, T, 3, H, W] -> logits [B, T/4, num_classes]
        feats, state = self.backbone(frames, state)
        pooled = F.relu6(feats).mean(dim=(-2, -1))  # [B, n, C]
        return self.head(pooled), state


@torch.no_grad()
def extract_clip(model: CausalCNN, frames: Tensor, warmup: bool = True, chunk: int = 64) -> Tensor:
    """Features of one whole video: ``[T, 3, H, W]`` -> ``[T // 4, C, h, w]``.

    With ``warmup`` the first frame is fed ``config.warmup_frames`` extra times first (as the
    reference does at stream start) and the steps made only of those copies are dropped, so step k
    still ends on video frame ``4k + 3``. Frames go through in chunks of ``chunk`` (a multiple of
    4) with the state carried over, which bounds the memory for long videos.
    """
    cfg = model.config
    state = model.initial_state(1, frames.device)
    if warmup:
        state = model.warm_up(frames[None, :1], state)
    chunk = max(cfg.frames_per_step, chunk - chunk % cfg.frames_per_step)
    usable = frames.shape[0] - frames.shape[0] % cfg.frames_per_step
    feats = []
    for i in range(0, usable, chunk):
        f, state = model(frames[i : min(i + chunk, usable)][None], state)
        feats.append(f[0])
    if not feats:
        c, h, w = cfg.feature_shape
        return frames.new_zeros(0, c, h, w)
    return torch.cat(feats)


class CNNStream:
    """One live stream: push frames one at a time, get a feature map every 4th frame.

    The first frame pushed is also fed ``warmup_frames`` extra times (not returned).
    """

    def __init__(self, model: CausalCNN, warmup: bool = True):
        self.model, self.warmup = model, warmup
        self.state: CNNState | None = None

    @torch.no_grad()
    def push(self, frame: Tensor) -> Tensor | None:
        """frame: [3, H, W] in [0, 1] -> feature [C, h, w] when a step completes, else None."""
        x = frame[None, None]  # [1, 1, 3, H, W]
        if self.state is None:
            self.state = self.model.initial_state(1, frame.device)
            if self.warmup:
                self.state = self.model.warm_up(x, self.state)
        feats, self.state = self.model(x, self.state)
        return feats[0, 0] if feats.shape[1] else None
