"""Package-wide settings: compute device, progress bars, verbosity."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

logger = logging.getLogger("sparsenode")


@dataclass
class Settings:
    """Settings shared by every sparsenode function.

    Attributes
    ----------
    device
        ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``. Used where a function's
        own ``device`` argument is left at ``"auto"``.
    progress_bar
        Show tqdm progress bars on long work.
    verbosity
        Logging level of the ``sparsenode`` logger (e.g. ``logging.INFO``). Logging handlers are never configured
        by the package; set them up in your session if you want the log lines.

    Examples
    --------
    >>> import sparsenode as sn
    >>> sn.settings.progress_bar = False
    >>> sn.settings.device
    'auto'
    """

    device: str = "auto"
    progress_bar: bool = True
    _verbosity: int = field(default=logging.WARNING, repr=False)

    @property
    def verbosity(self) -> int:
        """Logging level of the ``sparsenode`` logger."""
        return self._verbosity

    @verbosity.setter
    def verbosity(self, level: int) -> None:
        self._verbosity = int(level)
        logger.setLevel(self._verbosity)


settings = Settings()
