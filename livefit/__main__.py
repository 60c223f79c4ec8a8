"""``python -m livefit``: the same CLI as the ``livefit`` script (handy under torchrun/accelerate)."""

from livefit.cli import main

main()
