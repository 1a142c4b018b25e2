"""``python -m stepsaga`` is the ``stepsaga`` command."""

import sys

from stepsaga.cli import main

sys.exit(main())
