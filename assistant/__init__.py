"""corpus-assistant: answers analysts' questions from a curated corpus, citing every claim.

The public face is small; heavy parts (models, Chroma) load only when ``Assistant`` is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from assistant.types import Answer, AssistantError, Citation, Hit, IngestReport

if TYPE_CHECKING:
    from assistant.api import Assistant
    from assistant.config import Settings

__version__ = "0.1.0"
__all__ = [
    "Answer",
    "Assistant",
    "AssistantError",
    "Citation",
    "Hit",
    "IngestReport",
    "Settings",
    "__version__",
]


def __getattr__(name: str) -> Any:
    # Imported on first use so `assistant --help` and the eval report stay fast.
    if name == "Assistant":
        from assistant.api import Assistant

        return Assistant
    if name == "Settings":  # pydantic-settings alone takes ~0.4 s to import
        from assistant.config import Settings

        return Settings
    raise AttributeError(f"module 'assistant' has no attribute {name!r}")
