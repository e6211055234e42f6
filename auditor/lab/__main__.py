"""`python -m auditor.lab up|down|status`."""

import sys

from auditor.lab.cli import main

sys.exit(main(sys.argv[1:]))
