"""``python -m tests.emulator``: serve the emulator until interrupted."""

from tests.emulator import main

main()
