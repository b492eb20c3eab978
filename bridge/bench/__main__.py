"""``python -m bridge.bench``: the same as ``spico-bridge bench``."""

import sys

from bridge.bench import main

sys.exit(main())
