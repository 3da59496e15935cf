"""``python -m onethinker ...``: the same as the ``onethinker`` command."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
