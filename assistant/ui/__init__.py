"""The analysts' web UI: ``serve(settings)`` runs it, ``build_app(assistant, settings)`` builds it.

Gradio's analytics are switched off here, before Gradio is first imported.
"""

from __future__ import annotations

import os

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

from assistant.ui.app import build_app, launch_options, serve

__all__ = ["build_app", "launch_options", "serve"]
