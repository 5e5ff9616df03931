import sys

from lowprof.cli import main

sys.exit(main())
