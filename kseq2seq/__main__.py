"""`python -m kseq2seq ...` runs the command-line interface."""

import sys

from kseq2seq.cli import main

sys.exit(main())
