"""Allow ``python -m gateway`` as an alias of the ``imip-gateway`` command."""

import sys

from gateway.cli import main

sys.exit(main())
