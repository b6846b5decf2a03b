"""Stick-figure plots of motion-capture frames."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
from anndata import AnnData
from matplotlib.axes import Axes

from ..io._mocap import ROOT, Skeleton, forward_kinematics

__all__ = ["skeleton"]

_NON_INTERACTIVE = {"agg", "pdf", "pgf", "ps", "svg", "cairo", "template"}


def _to_plot(points: np.ndarray) -> np.ndarray:
    """Map CMU coordinates (y up) to matplotlib's 3-D axes (z up): ``(x, y, z) -> (x, -z, y)``, a proper rotation."""
    return np.stack([points[..., 0], -points[..., 2], points[..., 1]], axis=-1)


def skeleton(
    adata: AnnData,
    *,
    frames: int | Sequence[int] = 0,
    ax: Axes | None = None,
    show: bool | None = None,
    elev: float = 10.0,
    azim: float = -60.0,
    color: str | None = None,
    cmap: str = "viridis",
    linewidth: float = 2.0,
) -> Axes | None:
    """Draw motion-capture frames as 3-D stick figures.

    Joint positions come from :func:`sparsenode.io.forward_kinematics` applied to ``adata.uns["skeleton"]`` and the
    frame's channel values in ``adata.X``. The capture's vertical axis (y in CMU files) is drawn upwards; axes have
    equal aspect so proportions are true.

    Parameters
    ----------
    adata
        Frames x channels with ``uns["skeleton"]``, e.g. from :func:`sparsenode.io.read_amc` with a skeleton.
    frames
        Row position(s) in ``adata`` (like ``adata[i]``, negative counts from the end). Several frames are drawn in
        the same axes, coloured along ``cmap`` in the order given.
    ax
        A 3-D axes to draw into (``projection="3d"``); default: a new figure.
    show
        ``False`` returns the axes; ``None`` or ``True`` calls :func:`matplotlib.pyplot.show` (skipped under
        non-interactive backends such as Agg) and returns ``None``.
    elev, azim
        View angles in degrees (:meth:`mpl_toolkits.mplot3d.axes3d.Axes3D.view_init`).
    color
        One colour for every figure; default: from ``cmap``, or black for a single frame.
    cmap
        Colormap for several frames.
    linewidth
        Bone line width.

    Returns
    -------
    Axes or None
        The 3-D axes when ``show=False``.

    Raises
    ------
    KeyError
        When ``adata.uns["skeleton"]`` is missing.
    IndexError
        When a frame is out of range.

    Examples
    --------
    >>> import tempfile
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import sparsenode as sn
    >>> from sparsenode.io._mocap import _write_example
    >>> from sparsenode.pl._skeleton import skeleton
    >>> asf, amc = _write_example(tempfile.mkdtemp())
    >>> adata = sn.io.read_amc(amc, sn.io.read_asf(asf))
    >>> ax = skeleton(adata, frames=[0, 2], show=False)
    >>> len(ax.lines)  # 3 bones x 2 frames
    6
    """
    if "skeleton" not in adata.uns:
        raise KeyError(
            "adata.uns['skeleton'] is missing; read the motion with sparsenode.io.read_amc(amc, skeleton=read_asf(asf))"
        )
    sk = Skeleton.from_dict(adata.uns["skeleton"])
    rows = [int(frames)] if np.isscalar(frames) else [int(f) for f in frames]
    if not rows:
        raise ValueError("frames is empty; pass a row position or a list of them")
    for r in rows:
        if not -adata.n_obs <= r < adata.n_obs:
            raise IndexError(f"frame {r} is out of range for {adata.n_obs} rows")
    rows = [r % adata.n_obs for r in rows]
    sub = adata[rows]
    points = _to_plot(forward_kinematics(sk, sub))  # (frames, joints, 3)

    if ax is None:
        fig = plt.figure(figsize=(5, 6))
        ax = fig.add_subplot(projection="3d")
    elif getattr(ax, "name", "") != "3d":
        raise ValueError("ax must be a 3-D axes, e.g. fig.add_subplot(projection='3d')")

    joints = {name: i for i, name in enumerate(sk.joints)}
    parents = sk.parents
    if color is not None or len(rows) == 1:
        colors = [color or "black"] * len(rows)
    else:
        colors = list(mpl.colormaps[cmap](np.linspace(0.0, 1.0, len(rows))))
    for k, pts in enumerate(points):
        for bone in sk.bone_names:
            seg = pts[[joints[parents[bone]], joints[bone]]]
            ax.plot(seg[:, 0], seg[:, 1], seg[:, 2], color=colors[k], linewidth=linewidth, solid_capstyle="round")
        if "head" in joints:
            ax.scatter(*pts[joints["head"]], color=colors[k], s=30 * linewidth)
        ax.scatter(*pts[joints[ROOT]], color=colors[k], s=8 * linewidth, marker="s")

    # equal aspect: a cube around all points
    flat = points.reshape(-1, 3)
    centre = (flat.max(axis=0) + flat.min(axis=0)) / 2
    half = max(float((flat.max(axis=0) - flat.min(axis=0)).max()) / 2, 1e-9) * 1.05
    ax.set_xlim(centre[0] - half, centre[0] + half)
    ax.set_ylim(centre[1] - half, centre[1] + half)
    ax.set_zlim(centre[2] - half, centre[2] + half)
    ax.set_box_aspect((1, 1, 1))
    ax.set_xlabel("x")
    ax.set_ylabel("-z")
    ax.set_zlabel("y (up)")
    ax.view_init(elev=elev, azim=azim)
    labels = []
    for r in rows:
        obs = adata.obs.iloc[r]
        trial = f"{obs['trial']} " if "trial" in adata.obs else ""
        labels.append(f"{trial}frame {obs['frame']}" if "frame" in adata.obs else f"{trial}row {r}")
    ax.set_title(", ".join(labels) if len(labels) <= 3 else f"{labels[0]} ... {labels[-1]} ({len(labels)} frames)")

    if show is False:
        return ax
    if mpl.get_backend().lower() not in _NON_INTERACTIVE:
        plt.show()
    return None
