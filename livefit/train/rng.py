"""Every global random number generator a training run draws from, captured into a checkpoint and
restored on resume (``livefit.train.loop.fit``): Python's ``random``, NumPy's legacy global
generator, torch's CPU generator and, when CUDA is present, every CUDA device's generator.

The state is tensors and numbers only, so a checkpoint's ``trainer_state.pt`` still loads with
``torch.load(..., weights_only=True)``. Generators that belong to one object (the sampler's
per-epoch shuffle, the loader's worker seeds, a dataset's per-item augmentation draws) are not
here: the loop derives them from (seed, epoch, index), so they need no state.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch


def rng_state() -> dict[str, Any]:
    """The state of every global generator (see the module docstring)."""
    _, keys, pos, has_gauss, gauss = np.random.get_state(legacy=True)  # type: ignore[misc]
    version, internal, gauss_next = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy_keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),  # [624] MT19937
        "numpy_pos": int(pos),
        "numpy_has_gauss": int(has_gauss),
        "numpy_gauss": float(gauss),
        "python_version": int(version),
        "python_internal": torch.tensor(internal, dtype=torch.int64),  # [625] MT19937 + index
        "python_gauss": gauss_next,  # None or a float
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any] | torch.Tensor) -> None:
    """Restore what ``rng_state`` captured. A bare tensor (checkpoints written before this
    module) restores torch's CPU generator only."""
    if isinstance(state, torch.Tensor):
        torch.set_rng_state(state)
        return
    torch.set_rng_state(state["torch"])
    keys = state["numpy_keys"].numpy().astype(np.uint32)
    np.random.set_state(
        ("MT19937", keys, state["numpy_pos"], state["numpy_has_gauss"], state["numpy_gauss"])
    )
    internal = tuple(int(x) for x in state["python_internal"].tolist())
    random.setstate((state["python_version"], internal, state["python_gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


__all__ = ["rng_state", "set_rng_state"]
