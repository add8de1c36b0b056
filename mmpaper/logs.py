"""Logging set-up, in one place (imports nothing from the package).

Library modules log through ``logging.getLogger(__name__)``; :func:`install` gives the ``mmpaper`` logger one
handler that writes ``[mmpaper] message`` to the current ``sys.stderr`` (what a terminal, a notebook cell or a
test's capture sees), as Lightning does for its own logger. :func:`quiet_libraries` silences the start-up chatter
of Lightning and open_clip and puts our own warnings on one line; the CLI and the chapters call it.
"""
from __future__ import annotations

import logging
import os
import sys
import warnings

LOGGER = "mmpaper"


class _CurrentStderr(logging.StreamHandler):
    """A handler that writes to whatever ``sys.stderr`` is at the time of the record (pytest and notebooks swap
    it), never to the stream that was current when the handler was made."""

    def __init__(self):
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):  # StreamHandler.__init__ assigns it; the property always answers sys.stderr
        pass


def install(level: int = logging.INFO) -> logging.Logger:
    """The ``mmpaper`` logger with its stderr handler (added once; calling again only sets the level)."""
    logger = logging.getLogger(LOGGER)
    if not any(isinstance(h, _CurrentStderr) for h in logger.handlers):
        handler = _CurrentStderr()
        handler.setFormatter(logging.Formatter("[mmpaper] %(message)s"))
        logger.addHandler(handler)
        logger.propagate = False  # one line per record, also when the application configures the root logger
    logger.setLevel(level)
    return logger


def set_level(level: int) -> None:
    logging.getLogger(LOGGER).setLevel(level)


def quiet_libraries() -> None:
    """Lightning's start-up chatter (GPU/TPU availability, tips) off; our warnings on one line each."""
    for name in ("pytorch_lightning", "lightning", "lightning.pytorch", "lightning_fabric",
                 "pytorch_lightning.utilities.rank_zero", "lightning.pytorch.utilities.rank_zero",
                 "pytorch_lightning.accelerators.cuda", "lightning.pytorch.accelerators.cuda"):
        logging.getLogger(name).setLevel(logging.ERROR)
    # open_clip announces (on the root logger) that the tiny CLIP starts untrained; stage 0 is what trains it
    logging.getLogger().addFilter(lambda record: "No pretrained weights loaded" not in record.getMessage())
    warnings.filterwarnings("ignore", message=".*in eval mode at the start of training.*")
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    # val_recall is computed on rank 0 and broadcast, so every process already logs the same value
    warnings.filterwarnings("ignore", message=".*sync_dist=True.*")
    warnings.filterwarnings("ignore", message=".*Checkpoint directory .* exists and is not empty.*")
    warnings.filterwarnings("ignore", message=".*isinstance\\(treespec, LeafSpec\\).*")
    warnings.filterwarnings("ignore", message="No pretrained weights loaded.*")
    # our own warnings (a damaged cache regenerated) are one line each, without the source line under them;
    # other libraries' warnings keep Python's format
    default_format = warnings.formatwarning

    def one_line(message, category, filename, lineno, line=None):
        if f"{os.sep}mmpaper{os.sep}" in str(filename):
            return f"mmpaper: warning: {message}\n"
        return default_format(message, category, filename, lineno, line)

    if getattr(warnings.formatwarning, "__name__", "") != "one_line":
        warnings.formatwarning = one_line
