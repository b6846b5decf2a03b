"""Small helpers shared across subpackages: devices, seeds, input checks."""

from __future__ import annotations

import contextlib
import inspect
import os
import warnings
from collections.abc import Iterator

import numpy as np
import torch

from ._settings import settings


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """Turn ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` into a :class:`torch.device`.

    Raises a :class:`ValueError` that says what to do when CUDA is asked for but not available.
    """
    if device is None or (isinstance(device, str) and device == "auto"):
        device = settings.device
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"unknown device {device!r}; use 'auto', 'cpu', 'cuda' or 'cuda:N'") from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={str(device)!r} was requested but CUDA is not available on this machine "
            f"(torch {torch.__version__}); use device='cpu' or device='auto', or install a CUDA build of torch"
        )
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ValueError(f"device {dev} does not exist: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return dev


@contextlib.contextmanager
def seeded(seed: int | None, device: torch.device | None = None) -> Iterator[None]:
    """Seed torch inside :func:`torch.random.fork_rng` so the caller's global RNG state is left alone."""
    devices = []
    if device is not None and device.type == "cuda":
        devices = [device.index if device.index is not None else torch.cuda.current_device()]
    with torch.random.fork_rng(devices=devices):
        if seed is not None:
            torch.manual_seed(int(seed))
        yield


def to_numpy(x: torch.Tensor) -> np.ndarray:
    """Detach a tensor and return it as a float32 NumPy array on the CPU."""
    return x.detach().to("cpu", torch.float32).numpy()


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def warn_user(message: str, category: type[Warning] = UserWarning) -> None:
    """Warn, attributed to the first caller outside sparsenode (the user's line, however deep the call).

    Examples
    --------
    >>> import warnings
    >>> from sparsenode._utils import warn_user
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warn_user("look here")
    >>> str(caught[0].message)
    'look here'
    """
    frame, level = inspect.currentframe(), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE_DIR + os.sep):
        frame, level = frame.f_back, level + 1
    del frame
    warnings.warn(message, category, stacklevel=level)
