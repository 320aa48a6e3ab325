"""Progress of long jobs: one display per phase, and libraries kept from drawing their own.

A phase ("files", "chunking", "embedding") is one tqdm bar on stderr (the UI's
``gr.Progress(track_tqdm=True)`` follows the same bars); a disabled display prints nothing.
"""

from __future__ import annotations

import os
import sys
from types import TracebackType
from typing import Any


class _Silent:
    """The display of a phase when progress is off: accepts updates, prints nothing."""

    def update(self, n: int = 1) -> None:
        """Ignored."""

    def set_postfix_str(self, text: str) -> None:
        """Ignored."""

    def close(self) -> None:
        """Ignored."""

    def __enter__(self) -> _Silent:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None


def phase(desc: str, total: int, unit: str, enabled: bool) -> Any:
    """The display of one phase: a tqdm bar of ``total`` ``unit``s on stderr, or a silent one.

    Use it as a context manager and call ``update(n)``; ``disable=False`` is explicit so that a
    ``TQDM_DISABLE`` meant for libraries does not hide it.
    """
    if not enabled:
        return _Silent()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, disable=False, dynamic_ncols=True)


def quiet_libraries() -> None:
    """Keep libraries from drawing progress bars of their own (transformers' "Loading weights",
    Hugging Face hub bars): the CLI shows one display per phase of its own work.

    Cheap when nothing is loaded yet (an environment default that the libraries read when they
    are first imported, so ``--help`` stays fast); otherwise their public switches. An explicit
    ``HF_HUB_DISABLE_PROGRESS_BARS`` in the environment is respected.
    """
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    if os.environ["HF_HUB_DISABLE_PROGRESS_BARS"].strip().lower() in ("0", "false", "no", "off", ""):
        return
    if "huggingface_hub" in sys.modules:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
    if "transformers" in sys.modules:
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
