"""Progress of a batch: done / failed / running counts, shown with ``tqdm.auto``.

``tqdm.auto`` is the notebook standard: a widget bar in Jupyter, a text bar in a terminal. The
counts are kept here too (``BatchProgress.done`` ...), so the studio's batch row and tests read
them without a bar, and a listener sees every change.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import IO, Any

ProgressListener = Callable[["BatchProgress"], None]

# Client status words that mean a generation is past the queue and running on the provider.
_RUNNING = frozenset({"starting", "processing", "downloading"})


class BatchProgress:
    """Counts for ``total`` generations, and a ``tqdm.auto`` bar when ``bar`` is True.

    Feed it with ``status(index, word)`` (the client's on_status words) and ``finish(index,
    ok)``; ``close()`` ends the bar. ``file`` sends a text bar elsewhere (tests).
    """

    def __init__(
        self,
        total: int,
        *,
        description: str = "generating",
        bar: bool = True,
        file: IO[str] | None = None,
        listener: ProgressListener | None = None,
    ) -> None:
        self.total = total
        self.done = 0
        self.failed = 0
        self._running: set[int] = set()
        self._finished: set[int] = set()
        self._listener = listener
        self._bar: Any = None
        if bar:
            self._bar = _make_bar(total, description, file)
            self._bar.set_postfix_str(self.postfix(), refresh=False)

    @property
    def running(self) -> int:
        return len(self._running)

    @property
    def queued(self) -> int:
        return self.total - len(self._finished) - len(self._running)

    def status(self, index: int, status: str) -> None:
        """Item ``index`` reported a client status word."""
        if index in self._finished:
            return
        if status in _RUNNING and index not in self._running:
            self._running.add(index)
            self._changed(advance=0)

    def finish(self, index: int, ok: bool) -> None:
        """Item ``index`` ended (``ok``: with its images). A second call does nothing."""
        if index in self._finished:
            return
        self._finished.add(index)
        self._running.discard(index)
        if ok:
            self.done += 1
        else:
            self.failed += 1
        self._changed(advance=1)

    def postfix(self) -> str:
        return f"done={self.done}, failed={self.failed}, running={self.running}"

    def text(self) -> str:
        """One line for a widget label: ``12/40 · 11 done · 1 failed · 4 running``."""
        finished = self.done + self.failed
        return (
            f"{finished}/{self.total} · {self.done} done · {self.failed} failed · "
            f"{self.running} running"
        )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> BatchProgress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _changed(self, advance: int) -> None:
        if self._bar is not None:
            self._bar.set_postfix_str(self.postfix(), refresh=False)
            if advance:
                self._bar.update(advance)
            else:
                self._bar.refresh()
        if self._listener is not None:
            self._listener(self)


def _make_bar(total: int, description: str, file: IO[str] | None) -> Any:
    try:
        from tqdm.auto import tqdm  # type: ignore[import-untyped,unused-ignore]
    except ImportError:  # pragma: no cover - tqdm is a core dependency
        return None
    return tqdm(total=total, desc=description, unit="gen", file=file, leave=True)
