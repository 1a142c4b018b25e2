"""``python -m stepsaga.cli``: the ``stepsaga`` command without the installed script."""

import sys

from stepsaga.cli import main

sys.exit(main())
