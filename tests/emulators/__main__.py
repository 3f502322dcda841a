"""`python3 -m emulators` (with tests/ on PYTHONPATH): the same as scripts/emulators."""

import os
import sys

from .admin import main

status = main()
# Every server is stopped and joined by now; skip the interpreter's finalization, in which a
# request thread that botocore or ssl left behind has crashed the process (SIGSEGV) once.
sys.stdout.flush()
sys.stderr.flush()
os._exit(status)
