"""``python -m desktop``: the ``callback-monitor`` program (the PyInstaller build's entry too)."""

import sys

from desktop.cli import main

sys.exit(main())
