"""A verifier process: batches of messages in on stdin, their DKIM/ARC verdicts out on stdout.

Frames are a 4-byte big-endian length and a pickle. The parent (``pipeline.messages.Verifier``)
talks to it from its event loop with no helper thread, which matters: a ProcessPoolExecutor's
feeder and manager threads fight the event loop for the GIL, and the parent is the busiest
process of a run. Started in its own session, so a terminal's Ctrl-C reaches only the parent,
which decides what stops; the worker ends when its stdin closes.
"""

from __future__ import annotations

import pickle
import signal
import sys
from typing import BinaryIO

from bulkauth.core.dkimverify import verify_many


def serve(inp: BinaryIO, out: BinaryIO) -> None:
    while True:
        head = inp.read(4)
        if len(head) < 4:
            return
        payload = inp.read(int.from_bytes(head, "big"))
        try:
            reply: tuple[str, object] = ("ok", verify_many(pickle.loads(payload)))
        except Exception as exc:  # a bug: the parent turns it into error records, not a hang
            reply = ("error", f"{type(exc).__name__}: {exc}")
        data = pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL)
        out.write(len(data).to_bytes(4, "big") + data)
        out.flush()


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    serve(sys.stdin.buffer, sys.stdout.buffer)


if __name__ == "__main__":
    main()
