"""``python -m livefit``: the same CLI as the ``livefit`` script (for torchrun / accelerate)."""

from livefit.cli import main

main()
