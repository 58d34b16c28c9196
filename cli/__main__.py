import sys

from eggroll_bench.cli import main

sys.exit(main())
