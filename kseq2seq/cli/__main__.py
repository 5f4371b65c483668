import sys

from kseq2seq.cli import main

sys.exit(main())
