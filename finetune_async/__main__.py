"""``python -m finetune_async``: the ``finetune-async`` command line."""

import sys

from .cli import main

sys.exit(main())
