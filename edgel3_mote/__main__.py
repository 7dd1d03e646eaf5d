import sys

from edgel3_mote.cli import main

sys.exit(main())
