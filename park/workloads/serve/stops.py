"""Stop strings as OpenAI returns them: the completion ends before the stop string, which is not sent.

The batcher stops generating when a stop string appears, but its tokens already carry the stop's
characters. A stream cannot take back text it sent, so `StopFilter` holds back any tail that could
still grow into a stop string and releases it once it cannot.
"""

from __future__ import annotations


class StopFilter:
    def __init__(self, stops: tuple[str, ...]) -> None:
        self._stops = tuple(stop for stop in stops if stop)
        self._pending = ""
        self.stopped = False

    def push(self, text: str, *, final: bool = False) -> str:
        """The text that can be sent now, given `text` just generated (`final`: nothing follows)."""
        if self.stopped:
            return ""
        self._pending += text
        cut = min((i for stop in self._stops if (i := self._pending.find(stop)) >= 0), default=-1)
        if cut >= 0:
            self.stopped = True
            out, self._pending = self._pending[:cut], ""
            return out
        keep = 0 if final else self._held_back()
        out = self._pending[: len(self._pending) - keep]
        self._pending = self._pending[len(self._pending) - keep :]
        return out

    def _held_back(self) -> int:
        """Length of the longest tail of the pending text that begins some stop string."""
        longest = 0
        for stop in self._stops:
            for size in range(min(len(stop) - 1, len(self._pending)), longest, -1):
                if self._pending.endswith(stop[:size]):
                    longest = size
                    break
        return longest
