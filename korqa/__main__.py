"""`python -m korqa ...` is `korqa ...`."""

import sys

from korqa.cli import main

sys.exit(main())
