"""stream-guard: real-time detection of model-extraction abuse on LLM APIs.

The public API is small: settings, the contracts' codecs, the detection core that the
worker and ``replay`` share, and the offline replay itself.
"""

from stream_guard.contracts import decode_message, validate_alert, validate_event
from stream_guard.settings import Settings

__version__ = "0.1.0"

__all__ = ["Settings", "__version__", "decode_message", "validate_alert", "validate_event"]
