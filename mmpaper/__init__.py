"""mmpaper: the reproducible companion to "Multimodal semantic retrieval for product search" (and, beside it,
"Bringing Multimodality to Amazon Visual Search System", KDD 2024)."""
from . import logs as _logs

__version__ = "0.2.0"
_logs.install()
