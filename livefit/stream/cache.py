"""The per-session KV cache of the streaming engine: constant work per step, optional bounded size.

A transformers ``DynamicCache`` whose layers keep their keys/values in a pre-allocated buffer that
doubles when full, so appending one token is a slice write instead of ``torch.cat`` of the whole
past (which makes the stock cache O(length) per step). ``evict`` keeps an attention sink (the
first ``sink`` tokens: the system prompt) plus the most recent ``window`` tokens, so an hour-long
stream runs in bounded memory. Keys are cached after RoPE and new tokens keep their true absolute
positions, so query-to-recent-key distances stay exact; only the middle of the past is forgotten.

``StaticStreamCache`` is the fixed-capacity kind for compiled decoding (``EngineConfig(cache=
"static", compile=True)``): same shapes and addresses every step, a 4D mask over its slots.
"""

from __future__ import annotations

import torch
from transformers.cache_utils import DynamicCache, DynamicLayer


class GrowingLayer(DynamicLayer):
    """One decoder layer's keys/values [B, H, capacity, D]; ``keys``/``values`` are views of the
    first ``length`` slots."""

    _layer_type = None  # never register as the default layer type of transformers' caches

    def __init__(self, initial_capacity: int = 256) -> None:
        super().__init__()
        self.length = 0
        self.initial_capacity = initial_capacity
        self._k: torch.Tensor | None = None  # (B, H, capacity, D)
        self._v: torch.Tensor | None = None

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        self.device = key_states.device
        self.is_initialized = True
        self._allocate(max(self.initial_capacity, key_states.shape[-2]), key_states, value_states)

    def _allocate(self, capacity: int, k_like: torch.Tensor, v_like: torch.Tensor) -> None:
        b, h, _, dk = k_like.shape
        k = k_like.new_empty(b, h, capacity, dk)
        v = v_like.new_empty(b, h, capacity, v_like.shape[-1])
        if self._k is not None and self.length:
            k[:, :, : self.length] = self._k[:, :, : self.length]
            v[:, :, : self.length] = self._v[:, :, : self.length]
        self._k, self._v = k, v

    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        end = self.length + key_states.shape[-2]
        if end > self._k.shape[-2]:
            self._allocate(max(end, 2 * self._k.shape[-2]), key_states, value_states)
        self._k[:, :, self.length : end] = key_states
        self._v[:, :, self.length : end] = value_states
        self.length = end
        self.keys, self.values = self._k[:, :, :end], self._v[:, :, :end]
        return self.keys, self.values

    def get_seq_length(self, *args: object) -> int:
        return self.length

    def get_mask_sizes(self, query: int | torch.Tensor, *args: object) -> tuple[int, int]:
        # transformers 5.24 passes the query length; earlier 5.x pass cache_position.
        q = query if isinstance(query, int) else int(query.shape[0])
        return self.length + q, 0

    def get_max_length(self) -> int:
        return -1

    def evict(self, sink: int, window: int) -> None:
        """Keep slots [0, sink) and the last ``window``; move the window down behind the sink."""
        if self.length <= sink + window:
            return
        start = self.length - window
        for buf in (self._k, self._v):
            buf[:, :, sink : sink + window] = buf[:, :, start : self.length].clone()
        self.length = sink + window
        self.keys, self.values = self._k[:, :, : self.length], self._v[:, :, : self.length]

    def reset(self) -> None:
        self.length = 0

    def nbytes(self) -> int:
        """Bytes allocated (capacity, not just the used length)."""
        if self._k is None:
            return 0
        return self._k.numel() * self._k.element_size() + self._v.numel() * self._v.element_size()


class StreamCache(DynamicCache):
    """A cache of ``GrowingLayer``s, one per decoder layer, with sink + window eviction."""

    def __init__(self, num_layers: int, initial_capacity: int = 256) -> None:
        super().__init__()
        self.layers = [GrowingLayer(initial_capacity) for _ in range(num_layers)]

    def evict(self, sink: int, window: int) -> None:
        for layer in self.layers:
            layer.evict(sink, window)

    def nbytes(self) -> int:
        return sum(layer.nbytes() for layer in self.layers)


class StaticLayer(DynamicLayer):
    """One decoder layer's keys/values in fixed ``[B, H, capacity, D]`` buffers that never move.

    The write position lives in a device tensor (``length``) advanced in place, and ``update``
    returns the whole buffers, so a one-token step has the same shapes and addresses every time:
    what ``torch.compile`` and CUDA graphs need. Slots at or past ``length`` hold stale values; the
    engine masks them with ``StaticStreamCache.attention_mask``.
    """

    _layer_type = None
    is_compileable = True

    def __init__(self, capacity: int) -> None:
        super().__init__()
        self.capacity = capacity
        self.length = torch.zeros((), dtype=torch.long)

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        self.device = key_states.device
        b, h, _, dk = key_states.shape
        self.keys = key_states.new_zeros(b, h, self.capacity, dk)
        self.values = value_states.new_zeros(b, h, self.capacity, value_states.shape[-1])
        self.length = self.length.to(self.device)
        if not torch.compiler.is_compiling():  # fixed addresses: no re-recording of CUDA graphs
            for t in (self.keys, self.values, self.length):
                torch._dynamo.mark_static_address(t)
        self.is_initialized = True

    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        slots = self.length + torch.arange(key_states.shape[-2], device=self.device)
        self.keys.index_copy_(2, slots, key_states)
        self.values.index_copy_(2, slots, value_states)
        self.length.add_(key_states.shape[-2])
        return self.keys, self.values

    def get_seq_length(self, *args: object) -> int:
        return int(self.length)

    def get_mask_sizes(self, query: int | torch.Tensor, *args: object) -> tuple[int, int]:
        return self.capacity, 0

    def get_max_length(self) -> int:
        return self.capacity

    def evict(self, sink: int, window: int) -> None:
        """Keep slots [0, sink) and the last ``window`` (in place: the addresses stay)."""
        length = int(self.length)
        if not self.is_initialized or length <= sink + window:
            return
        start = length - window
        for buf in (self.keys, self.values):
            buf[:, :, sink : sink + window] = buf[:, :, start:length].clone()
        self.length.fill_(sink + window)

    def reset(self) -> None:
        self.length.zero_()

    def nbytes(self) -> int:
        if not self.is_initialized:
            return 0
        return self.keys.numel() * self.keys.element_size() * 2


class StaticStreamCache(DynamicCache):
    """A fixed-capacity cache of ``StaticLayer``s for compiled (CUDA-graph) decoding.

    The caller passes ``attention_mask(n)`` with every forward of ``n`` new tokens: a 4D boolean
    mask that shows each new token the filled slots and the new tokens up to itself (transformers
    uses a 4D mask as given). Reusable: ``reset`` empties it in place, so a compiled step
    recorded on it serves the next session too.
    """

    def __init__(self, num_layers: int, capacity: int) -> None:
        super().__init__()
        self.capacity = capacity
        self.layers = [StaticLayer(capacity) for _ in range(num_layers)]
        self.slots = torch.arange(capacity)

    def attention_mask(self, n: int, batch: int = 1) -> torch.Tensor:
        """``[batch, 1, n, capacity]``: new token i sees slots ``< length + i + 1``. Call before the
        forward that adds the ``n`` tokens."""
        layer = self.layers[0]
        length = layer.length
        if self.slots.device != length.device:
            self.slots = self.slots.to(length.device)
        queries = length + torch.arange(n, device=length.device)  # slot of each new token
        mask = self.slots[None, :] <= queries[:, None]  # (n, capacity)
        return mask[None, None].expand(batch, 1, n, self.capacity)

    def cache_position(self, n: int) -> torch.Tensor:
        """Slots the next ``n`` tokens go to (for transformers < 5.24, which asks for them)."""
        length = self.layers[0].length
        return length + torch.arange(n, device=length.device)

    def get_seq_length(self, layer_idx: int = 0) -> int:
        return self.layers[layer_idx].get_seq_length()

    def evict(self, sink: int, window: int) -> None:
        for layer in self.layers:
            layer.evict(sink, window)

    def reset(self) -> None:
        for layer in self.layers:
            layer.reset()

    def nbytes(self) -> int:
        return sum(layer.nbytes() for layer in self.layers)


__all__ = ["GrowingLayer", "StaticLayer", "StaticStreamCache", "StreamCache"]
