"""`python3 -m emulators` (with tests/ on PYTHONPATH): the same as scripts/emulators."""

import sys

from .admin import main

sys.exit(main())
