"""Ship a trained coach folder (``RUN/coach``) inside the package, with its weights stored in a
smaller dtype: ``livefit/bundled/coach_pose`` is made this way from a pose-coach run.

Only storage changes: each ``model.safetensors`` (front end and Stream-VLM) holds its floating
tensors in ``dtype`` (bfloat16 halves the bytes) and the models still run in the dtype of their
configs (float32 here): loading copies the stored values into the float32 parameters. The
rounding is a change of the weights, so every number quoted for a bundled coach is measured on
the bundled files, not on the run's. The card gets a line that says what was done.

    python -m livefit.train.bundle RUN/coach livefit/bundled/coach_pose --dtype bfloat16
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import torch
from safetensors import safe_open

from livefit.tensors import save_tensors

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
WEIGHT_FILES = ("model.safetensors",)  # the activity heads (a few kB) stay float32


def store_as(path: Path, dtype: torch.dtype) -> None:
    """Rewrite one safetensors file with its floating tensors in ``dtype`` (metadata kept)."""
    with safe_open(str(path), framework="pt") as f:
        metadata = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open has no iter)
    tensors = {k: v.to(dtype) if v.is_floating_point() else v for k, v in tensors.items()}
    save_tensors(path, tensors, metadata)


def bundle_coach(source: str | Path, dest: str | Path, dtype: str = "bfloat16") -> Path:
    """Copy the coach folder ``source`` to ``dest`` (replaced) with its weights in ``dtype``."""
    source, dest = Path(source), Path(dest)
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {sorted(DTYPES)}, got {dtype!r}")
    if not (source / "stream_vlm" / "model.safetensors").is_file():
        raise FileNotFoundError(f"{source}: not a coach folder (no stream_vlm/model.safetensors)")
    staging = dest.with_name(dest.name + ".tmp")
    if staging.exists():
        shutil.rmtree(staging)
    shutil.copytree(source, staging)
    for path in sorted(staging.rglob("*.safetensors")):
        if path.name in WEIGHT_FILES:
            store_as(path, DTYPES[dtype])
    card = staging / "MODEL_CARD.md"
    if card.is_file() and dtype != "float32":
        text = card.read_text()
        note = (
            f"\n\nWeights stored in {dtype} (the run's float32 weights rounded; the models "
            "run in float32). Every number in this card's `Landmark sources` section was "
            "measured on these files.\n"
        )
        card.write_text(text.rstrip("\n") + note)
    if dest.exists():
        shutil.rmtree(dest)
    staging.rename(dest)
    return dest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="a coach folder (RUN/coach)")
    parser.add_argument("dest", type=Path, help="where the bundled copy goes (replaced)")
    parser.add_argument("--dtype", default="bfloat16", choices=sorted(DTYPES))
    args = parser.parse_args()
    out = bundle_coach(args.source, args.dest, args.dtype)
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"{out}: {size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
