"""How a run fails as a whole (not an item: an item's failure is its record).

The command line maps these to its exit status in one place: 2 for what the user can fix in
the command or an input file, 1 for a run that broke down. Kept free of imports so that the
command line can name them without start-up cost.
"""

from __future__ import annotations


class BadInput(Exception):
    """The command line or an input file is unusable (a zone file that does not parse, an input
    that cannot be opened, an output that is not the run to resume): say so on one line."""


class WorkerLost(Exception):
    """A worker process died (killed, out of memory); the output is whole up to its last line."""


class OutputFailed(Exception):
    """An output other than the records could not be written (the --record-dns snapshot: the
    disk full, the folder gone); the records themselves are whole."""
