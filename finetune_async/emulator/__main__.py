"""``python -m finetune_async.emulator``: see :func:`finetune_async.emulator.main`."""

import sys

from ._cli import main

sys.exit(main())
