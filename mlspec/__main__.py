"""`python -m mlspec`: the same as the `mlspec` command."""

import sys

from mlspec.cli import command_line

sys.exit(command_line())
