"""`python -m hil_tests.bench run | soak | report` (the same as `pribox bench ...`)."""

import sys

from .cli import main

sys.exit(main())
