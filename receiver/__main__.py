"""``python -m receiver``: the headless command line (no window; it never imports desktop/ or Qt)."""

import sys

from receiver.cli import main

sys.exit(main())
