"""`python -m dock.localrun`: what `make run` starts (dock.localrun.demo)."""

import sys

from dock.localrun.demo import main

sys.exit(main())
