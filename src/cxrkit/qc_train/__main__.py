"""``python -m cxrkit.qc_train``."""

import sys

from cxrkit.qc_train.cli import main

sys.exit(main())
