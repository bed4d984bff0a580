"""Run the ``muosm`` command as ``python -m muosm_perf.cli``."""

import sys

from muosm_perf.cli import main

sys.exit(main())
