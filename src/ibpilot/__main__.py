import sys

from ibpilot.cli import main

sys.exit(main())
