import sys

from mnwd.cli import main

sys.exit(main())
