"""``python -m labqueue``: the same as the ``labqueue`` command."""

import sys

from .app.main import main

sys.exit(main())
