"""``python -m mnwd``: the command line, `mnwd.cli.main`.

The cyclic garbage collector is off while mnwd is imported: importing makes tens of thousands of objects that
live as long as the process, and the collections their allocations set off (full ones among them, each over
everything made so far) free next to nothing for a tenth of a second of a start. `mnwd.cli.main` turns it back
on before a command runs, and `mnwd serve` once it has started and frozen what start-up made (`mnwd.daemon`).
"""

import gc
import sys

gc.disable()

from mnwd.cli import main  # noqa: E402 (after the collector is off)

sys.exit(main())
