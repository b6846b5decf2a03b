"""Read CMU/Acclaim motion capture: ASF skeletons, AMC motions, and forward kinematics.

Conventions
-----------
* Lengths, directions and root positions are kept **as written in the ASF/AMC** (the ASF's own length unit). The
  ASF's ``:units length`` value is stored in :attr:`Skeleton.units` but not applied. For the CMU database that value
  is 0.45 and the CMU notes convert to metres with ``value * (1 / 0.45) * 2.54 / 100``.
* Angles are kept in the ASF's angle unit (degrees for CMU, ``:units angle deg``); :func:`forward_kinematics`
  converts them.
* Rotations act on column vectors. An axis order such as ``"XYZ"`` means "rotate about x first, then y, then z",
  which is the matrix ``Rz @ Ry @ Rx`` (the ASF writes the same thing with row vectors as ``Rx Ry Rz``).
* A bone's global rotation is ``R = R_parent @ C @ M @ C.T`` where ``C`` comes from the bone's ``axis`` line and
  ``M`` from its degrees of freedom, applied in the order the ``dof`` line lists them; the bone's end is
  ``parent_end + R @ (direction * length)``. This is the ASF row-vector rule ``L = C^-1 M C`` chained with the
  parent's transform, written for column vectors.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData

__all__ = ["Bone", "Skeleton", "forward_kinematics", "read_amc", "read_asf", "read_mocap"]

ROOT = "root"
_ROOT_DEFAULT_ORDER = ("TX", "TY", "TZ", "RX", "RY", "RZ")
_ROTATION_DOFS = ("rx", "ry", "rz")
_VALID_DOFS = frozenset({"rx", "ry", "rz", "tx", "ty", "tz", "l"})
_VALID_ROOT_ORDER = frozenset({"TX", "TY", "TZ", "RX", "RY", "RZ"})
_LIMIT = re.compile(r"\(\s*([^\s()]+)\s+([^\s()]+)\s*\)")

PathType = str | PathLike


# --------------------------------------------------------------------------------------------------------------------
# data model


@dataclass
class Bone:
    """One bone of an ASF skeleton.

    Attributes
    ----------
    name
        Bone name, e.g. ``"lfemur"``.
    direction
        Unit 3-vector along the bone in the rest pose (global frame).
    length
        Bone length in the ASF's length unit.
    axis
        Three angles of the bone's local frame, in the ASF's angle unit.
    axis_order
        Order in which ``axis`` angles are applied, e.g. ``"XYZ"``.
    dof
        Degrees of freedom in AMC order, e.g. ``["rx", "ry", "rz"]``; empty for a fixed bone.
    limits
        ``(len(dof), 2)`` array of lower and upper limits (``-inf``/``inf`` where the ASF gives none).
    id
        The ASF's bone id (``-1`` when the file has none).
    """

    name: str
    direction: np.ndarray
    length: float
    axis: np.ndarray = field(default_factory=lambda: np.zeros(3))
    axis_order: str = "XYZ"
    dof: list[str] = field(default_factory=list)
    limits: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    id: int = -1


@dataclass
class Skeleton:
    """An ASF (Acclaim skeleton) file in memory.

    Attributes
    ----------
    bones
        Bones by name, in the ASF's order.
    hierarchy
        Parent name -> list of child names (``"root"`` is the top).
    root_order
        Order of the root's six AMC values, e.g. ``["TX", "TY", "TZ", "RX", "RY", "RZ"]``.
    root_axis
        Order of the root's orientation angles, e.g. ``"XYZ"``.
    root_position
        Rest position of the root.
    root_orientation
        Rest orientation of the root (angles in ``root_axis`` order).
    units
        ``{"mass": float, "length": float, "angle": "deg" | "rad"}`` as written in the ASF (not applied to lengths).
    name
        The ASF's ``:name``.
    documentation
        The ASF's ``:documentation`` text.

    Examples
    --------
    >>> import tempfile
    >>> import sparsenode as sn
    >>> from sparsenode.io._mocap import _write_example
    >>> asf, amc = _write_example(tempfile.mkdtemp())
    >>> sk = sn.io.read_asf(asf)
    >>> sk.channels()
    ['root_tx', 'root_ty', 'root_tz', 'root_rx', 'root_ry', 'root_rz', 'femur_rx', 'femur_ry', 'femur_rz', 'tibia_rx']
    >>> sn.io.Skeleton.from_dict(sk.to_dict()).channels() == sk.channels()
    True
    """

    bones: dict[str, Bone]
    hierarchy: dict[str, list[str]]
    root_order: list[str] = field(default_factory=lambda: list(_ROOT_DEFAULT_ORDER))
    root_axis: str = "XYZ"
    root_position: np.ndarray = field(default_factory=lambda: np.zeros(3))
    root_orientation: np.ndarray = field(default_factory=lambda: np.zeros(3))
    units: dict[str, Any] = field(default_factory=lambda: {"mass": 1.0, "length": 1.0, "angle": "deg"})
    name: str = ""
    documentation: str = ""

    # -- derived views ------------------------------------------------------------------------------------------------
    @property
    def bone_names(self) -> list[str]:
        """Bone names in the ASF's order (without ``"root"``)."""
        return list(self.bones)

    @property
    def joints(self) -> list[str]:
        """Names of the points :func:`forward_kinematics` returns: ``"root"`` then every bone's end."""
        return [ROOT, *self.bones]

    @property
    def parents(self) -> dict[str, str]:
        """Child name -> parent name, for every bone."""
        return {child: parent for parent, children in self.hierarchy.items() for child in children}

    def channels(self) -> list[str]:
        """Channel names in AMC value order, root first and then the bones in the ASF's order.

        The root gives ``root_tx`` ... ``root_rz`` (lower-cased ``root_order``); every bone with degrees of freedom
        gives ``<bone>_<dof>`` in its ``dof`` order, e.g. ``lfemur_rx``.

        Returns
        -------
        list of str
            One name per AMC value of a frame.
        """
        names = [f"{ROOT}_{c.lower()}" for c in self.root_order]
        for bone in self.bones.values():
            names.extend(f"{bone.name}_{d}" for d in bone.dof)
        return names

    def topological_order(self) -> list[str]:
        """Bone names ordered so that every parent comes before its children."""
        out: list[str] = []
        stack = list(reversed(self.hierarchy.get(ROOT, [])))
        while stack:
            name = stack.pop()
            out.append(name)
            stack.extend(reversed(self.hierarchy.get(name, [])))
        return out

    # -- (de)serialisation --------------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Return the skeleton as nested dicts of strings, numbers and arrays, safe for ``adata.uns``.

        Bone order is kept in ``"bone_order"`` because h5ad files sort dict keys. Fixed bones have an empty
        ``dof`` array. Nothing is ``None`` and nothing is an object, so ``write_h5ad``/``read_h5ad`` round-trip it.

        Returns
        -------
        dict
            Keys ``name``, ``documentation``, ``units``, ``root``, ``bones``, ``bone_order``, ``hierarchy``.
        """
        bones = {}
        for b in self.bones.values():
            bones[b.name] = {
                "id": int(b.id),
                "direction": np.asarray(b.direction, dtype=float),
                "length": float(b.length),
                "axis": np.asarray(b.axis, dtype=float),
                "axis_order": str(b.axis_order),
                "dof": np.asarray(b.dof, dtype=str),
                "limits": np.asarray(b.limits, dtype=float).reshape(-1, 2),
            }
        return {
            "name": str(self.name),
            "documentation": str(self.documentation),
            "units": {
                "mass": float(self.units.get("mass", 1.0)),
                "length": float(self.units.get("length", 1.0)),
                "angle": str(self.units.get("angle", "deg")),
            },
            "root": {
                "order": np.asarray(self.root_order, dtype=str),
                "axis": str(self.root_axis),
                "position": np.asarray(self.root_position, dtype=float),
                "orientation": np.asarray(self.root_orientation, dtype=float),
            },
            "bones": bones,
            "bone_order": np.asarray(list(self.bones), dtype=str),
            "hierarchy": {p: np.asarray(c, dtype=str) for p, c in self.hierarchy.items()},
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Skeleton:
        """Rebuild a skeleton from :meth:`to_dict` output (also after an h5ad round trip).

        Parameters
        ----------
        d
            A dict as written by :meth:`to_dict`, e.g. ``adata.uns["skeleton"]``.

        Returns
        -------
        Skeleton
            The skeleton.
        """
        try:
            order = [str(n) for n in np.atleast_1d(d["bone_order"])]
            bones = {}
            for name in order:
                b = d["bones"][name]
                dof = [str(x) for x in np.atleast_1d(b["dof"])] if np.size(b["dof"]) else []
                bones[name] = Bone(
                    name=name,
                    direction=np.asarray(b["direction"], dtype=float),
                    length=float(b["length"]),
                    axis=np.asarray(b["axis"], dtype=float),
                    axis_order=str(b["axis_order"]),
                    dof=dof,
                    limits=np.asarray(b["limits"], dtype=float).reshape(-1, 2),
                    id=int(b["id"]),
                )
            root = d["root"]
            hierarchy = {str(p): [str(c) for c in np.atleast_1d(ch)] for p, ch in d["hierarchy"].items()}
            units = d["units"]
            return cls(
                bones=bones,
                hierarchy=hierarchy,
                root_order=[str(x) for x in np.atleast_1d(root["order"])],
                root_axis=str(root["axis"]),
                root_position=np.asarray(root["position"], dtype=float),
                root_orientation=np.asarray(root["orientation"], dtype=float),
                units={"mass": float(units["mass"]), "length": float(units["length"]), "angle": str(units["angle"])},
                name=str(d.get("name", "")),
                documentation=str(d.get("documentation", "")),
            )
        except (KeyError, TypeError) as err:
            raise ValueError(
                f"not a skeleton dict ({err!r} missing or malformed); pass the output of Skeleton.to_dict(), "
                "e.g. adata.uns['skeleton'] written by sparsenode.io.read_amc(..., skeleton=...)"
            ) from err


# --------------------------------------------------------------------------------------------------------------------
# ASF parser


def _fail(path: PathType, line: int, msg: str) -> ValueError:
    return ValueError(f"{path}:{line}: {msg}")


def _floats(tokens: Sequence[str], n: int | None, path: PathType, line: int, what: str) -> np.ndarray:
    if n is not None and len(tokens) != n:
        raise _fail(path, line, f"{what} needs {n} numbers, got {len(tokens)}: {' '.join(tokens)!r}")
    try:
        return np.array([float(t) for t in tokens], dtype=float)
    except ValueError:
        raise _fail(path, line, f"{what} must be numbers, got {' '.join(tokens)!r}") from None


def _axis_order(token: str, path: PathType, line: int) -> str:
    order = token.upper()
    if sorted(order) != ["X", "Y", "Z"]:
        raise _fail(path, line, f"axis order must be a permutation of XYZ, got {token!r}")
    return order


def _read_lines(path: PathType) -> list[tuple[int, str]]:
    """(line number, text without comment) for non-blank lines."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    out = []
    with open(path, encoding="utf-8", errors="replace") as fh:
        for i, raw in enumerate(fh, start=1):
            text = raw.split("#", 1)[0].strip()
            if text:
                out.append((i, text))
    return out


def read_asf(path: PathType) -> Skeleton:
    """Read an ASF (Acclaim skeleton) file, e.g. a CMU subject's ``07.asf``.

    Parameters
    ----------
    path
        The ``.asf`` file.

    Returns
    -------
    Skeleton
        Bones (direction, length, axis, dof, limits), root, hierarchy and units. Values are kept as written; see the
        module notes on units.

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    ValueError
        When the file is malformed; the message starts with ``<path>:<line>:``.

    Examples
    --------
    >>> import tempfile
    >>> import sparsenode as sn
    >>> from sparsenode.io._mocap import _write_example
    >>> asf, amc = _write_example(tempfile.mkdtemp())
    >>> sk = sn.io.read_asf(asf)
    >>> sk.bone_names, sk.bones["femur"].dof, sk.bones["femur"].length
    (['hip', 'femur', 'tibia'], ['rx', 'ry', 'rz'], 4.0)
    >>> sk.hierarchy["root"]
    ['hip']
    """
    lines = _read_lines(path)
    units: dict[str, Any] = {"mass": 1.0, "length": 1.0, "angle": "deg"}
    root: dict[str, Any] = {}
    bones: dict[str, Bone] = {}
    hierarchy: dict[str, list[str]] = {}
    name, docs = "", []
    section = None
    seen: set[str] = set()
    bone: dict[str, Any] | None = None
    in_hierarchy = hierarchy_done = False
    last_limits = False
    last_line = lines[-1][0] if lines else 1

    for lineno, text in lines:
        tokens = text.split()
        if text.startswith(":"):
            if bone is not None:
                raise _fail(path, lineno, f"bone starting on line {bone['_line']} has no 'end'")
            if in_hierarchy:
                raise _fail(path, lineno, ":hierarchy block has no 'end'")
            section = tokens[0][1:].lower()
            if section in seen:
                raise _fail(path, lineno, f"section ':{section}' appears twice")
            seen.add(section)
            if section == "name":
                name = " ".join(tokens[1:])
            elif section not in {"version", "units", "documentation", "root", "bonedata", "hierarchy", "skin"}:
                raise _fail(path, lineno, f"unknown section {tokens[0]!r}")
            continue
        key = tokens[0].lower()
        if section is None:
            raise _fail(path, lineno, f"text before the first ':section' keyword: {text!r}")
        if section == "units":
            if len(tokens) != 2:
                raise _fail(path, lineno, f"units line must be '<name> <value>', got {text!r}")
            if key == "angle":
                if tokens[1].lower() not in {"deg", "rad"}:
                    raise _fail(path, lineno, f"angle unit must be 'deg' or 'rad', got {tokens[1]!r}")
                units["angle"] = tokens[1].lower()
            else:
                units[key] = float(_floats(tokens[1:], 1, path, lineno, f"unit {key!r}")[0])
        elif section == "documentation":
            docs.append(text)
        elif section in {"version", "skin"}:
            continue
        elif section == "root":
            if key == "order":
                order = [t.upper() for t in tokens[1:]]
                if not set(order) <= _VALID_ROOT_ORDER or len(set(order)) != len(order):
                    raise _fail(path, lineno, f"root order must list distinct TX TY TZ RX RY RZ, got {text!r}")
                root["order"] = order
            elif key == "axis":
                if len(tokens) != 2:
                    raise _fail(path, lineno, f"root axis must be one order like XYZ, got {text!r}")
                root["axis"] = _axis_order(tokens[1], path, lineno)
            elif key in {"position", "orientation"}:
                root[key] = _floats(tokens[1:], 3, path, lineno, f"root {key}")
            else:
                raise _fail(path, lineno, f"unknown root keyword {tokens[0]!r}")
        elif section == "bonedata":
            if key == "begin":
                if bone is not None:
                    raise _fail(path, lineno, f"'begin' inside the bone starting on line {bone['_line']}")
                bone, last_limits = {"_line": lineno}, False
                continue
            if bone is None:
                raise _fail(path, lineno, f"bone data outside a begin/end block: {text!r}")
            if key == "end":
                b = _finish_bone(bone, path, lineno)
                if b.name in bones or b.name == ROOT:
                    raise _fail(path, bone["_name_line"], f"duplicate bone name {b.name!r}")
                bones[b.name] = b
                bone = None
                continue
            if text.startswith("("):
                if not last_limits:
                    raise _fail(path, lineno, f"limit {text!r} does not follow a 'limits' line")
                bone["limits"].extend(_parse_limits(text, path, lineno))
                continue
            last_limits = False
            if key == "id":
                bone["id"] = int(_floats(tokens[1:], 1, path, lineno, "id")[0])
            elif key == "name":
                if len(tokens) != 2:
                    raise _fail(path, lineno, f"bone name must be one word, got {text!r}")
                bone["name"], bone["_name_line"] = tokens[1], lineno
            elif key == "direction":
                bone["direction"] = _floats(tokens[1:], 3, path, lineno, "direction")
                bone["_dir_line"] = lineno
            elif key == "length":
                bone["length"] = float(_floats(tokens[1:], 1, path, lineno, "length")[0])
            elif key == "axis":
                if len(tokens) != 5:
                    raise _fail(path, lineno, f"axis needs three angles and an order like XYZ, got {text!r}")
                bone["axis"] = _floats(tokens[1:4], 3, path, lineno, "axis")
                bone["axis_order"] = _axis_order(tokens[4], path, lineno)
            elif key == "dof":
                dof = [t.lower() for t in tokens[1:]]
                bad = [d for d in dof if d not in _VALID_DOFS]
                if bad or len(set(dof)) != len(dof):
                    raise _fail(path, lineno, f"dof must list distinct rx ry rz tx ty tz l, got {text!r}")
                bone["dof"] = dof
            elif key == "limits":
                bone["limits"] = _parse_limits(text[len(tokens[0]) :], path, lineno)
                bone["_limits_line"] = lineno
                last_limits = True
            elif key in {"bodymass", "cofmass"}:
                continue
            else:
                raise _fail(path, lineno, f"unknown bone keyword {tokens[0]!r}")
        elif section == "hierarchy":
            if key == "begin":
                if in_hierarchy or hierarchy_done:
                    raise _fail(path, lineno, "second 'begin' in :hierarchy")
                in_hierarchy = True
            elif key == "end":
                if not in_hierarchy:
                    raise _fail(path, lineno, "'end' without 'begin' in :hierarchy")
                in_hierarchy, hierarchy_done = False, True
            elif not in_hierarchy:
                raise _fail(path, lineno, f"hierarchy line outside begin/end: {text!r}")
            else:
                parent, children = tokens[0], tokens[1:]
                if not children:
                    raise _fail(path, lineno, f"hierarchy line names a parent without children: {text!r}")
                for n in (parent, *children):
                    if n != ROOT and n not in bones:
                        raise _fail(path, lineno, f"hierarchy names unknown bone {n!r}")
                if ROOT in children:
                    raise _fail(path, lineno, "'root' cannot be a child")
                hierarchy.setdefault(parent, []).extend(children)
                seen_children = [c for cs in hierarchy.values() for c in cs]
                dup = {c for c in children if seen_children.count(c) > 1}
                if dup:
                    raise _fail(path, lineno, f"bone(s) {sorted(dup)} given more than one parent")

    if bone is not None:
        raise _fail(path, last_line, f"bone starting on line {bone['_line']} has no 'end'")
    if in_hierarchy:
        raise _fail(path, last_line, ":hierarchy block has no 'end'")
    if not bones:
        raise _fail(path, last_line, "no bones: the file has no :bonedata begin/end blocks")
    if not hierarchy_done:
        raise _fail(path, last_line, "no :hierarchy begin/end block")
    sk = Skeleton(
        bones=bones,
        hierarchy=hierarchy,
        root_order=root.get("order", list(_ROOT_DEFAULT_ORDER)),
        root_axis=root.get("axis", "XYZ"),
        root_position=root.get("position", np.zeros(3)),
        root_orientation=root.get("orientation", np.zeros(3)),
        units=units,
        name=name,
        documentation="\n".join(docs),
    )
    reached = sk.topological_order()
    if len(reached) != len(set(reached)) or set(reached) != set(bones):
        missing = sorted(set(bones) - set(reached))
        raise _fail(
            path, last_line, f"hierarchy does not connect every bone to 'root' exactly once (cut off: {missing})"
        )
    return sk


def _parse_limits(text: str, path: PathType, line: int) -> list[tuple[float, float]]:
    pairs = _LIMIT.findall(text)
    if not pairs or _LIMIT.sub("", text).strip():
        raise _fail(path, line, f"limits must look like '(low high)', got {text.strip()!r}")
    return [tuple(_floats(p, 2, path, line, "limit")) for p in pairs]


def _finish_bone(bone: dict[str, Any], path: PathType, end_line: int) -> Bone:
    for key in ("name", "direction", "length"):
        if key not in bone:
            raise _fail(path, end_line, f"bone starting on line {bone['_line']} has no '{key}'")
    direction = bone["direction"]
    norm = float(np.linalg.norm(direction))
    if norm == 0.0:
        raise _fail(path, bone["_dir_line"], f"bone {bone['name']!r} has a zero direction")
    dof = bone.get("dof", [])
    limits = bone.get("limits")
    if limits is None:
        limits = [(-np.inf, np.inf)] * len(dof)
    elif len(limits) != len(dof):
        raise _fail(path, bone["_limits_line"], f"bone {bone['name']!r} has {len(dof)} dof but {len(limits)} limits")
    return Bone(
        name=bone["name"],
        direction=direction / norm,
        length=bone["length"],
        axis=bone.get("axis", np.zeros(3)),
        axis_order=bone.get("axis_order", "XYZ"),
        dof=dof,
        limits=np.array(limits, dtype=float).reshape(-1, 2),
        id=bone.get("id", -1),
    )


# --------------------------------------------------------------------------------------------------------------------
# AMC parser


def _as_skeleton(skeleton: Skeleton | Mapping | PathType | None) -> Skeleton | None:
    if skeleton is None or isinstance(skeleton, Skeleton):
        return skeleton
    if isinstance(skeleton, Mapping):
        return Skeleton.from_dict(skeleton)
    return read_asf(skeleton)


def _parse_amc(
    path: PathType, skeleton: Skeleton | None
) -> tuple[list[str], list[tuple[str, str]], np.ndarray, np.ndarray, str]:
    """Return channel names, (bone, dof) pairs, frame numbers, values ``(frames, channels)`` and the angle unit."""
    lines = _read_lines(path)
    angle = "deg"
    # pass 1: split into frames of (bone, values, line)
    frames: list[tuple[int, int, list[tuple[str, np.ndarray, int]]]] = []
    for lineno, text in lines:
        tokens = text.split()
        if text.startswith(":"):
            if frames:
                raise _fail(path, lineno, f"keyword {tokens[0]!r} after the first frame")
            kw = tokens[0][1:].upper()
            if kw in {"RADIANS", "DEGREES"}:
                angle = "rad" if kw == "RADIANS" else "deg"
            continue
        if len(tokens) == 1 and tokens[0].isdigit():
            frames.append((int(tokens[0]), lineno, []))
            continue
        if not frames:
            raise _fail(path, lineno, f"bone values before the first frame number: {text!r}")
        values = _floats(tokens[1:], None, path, lineno, f"values of {tokens[0]!r}")
        frames[-1][2].append((tokens[0], values, lineno))
    if not frames:
        raise _fail(path, lines[-1][0] if lines else 1, "no frames: expected a line with a frame number")

    # the layout: (bone, number of values) in output order
    if skeleton is not None:
        layout = [(ROOT, len(skeleton.root_order))] + [(b.name, len(b.dof)) for b in skeleton.bones.values()]
        names = skeleton.channels()
        pairs = [(ROOT, c.lower()) for c in skeleton.root_order]
        pairs += [(b.name, d) for b in skeleton.bones.values() for d in b.dof]
    else:
        layout = [(bone, len(values)) for bone, values, _ in frames[0][2]]
        names, pairs = [], []
        for bone, n in layout:
            dofs = [c.lower() for c in _ROOT_DEFAULT_ORDER] if (bone, n) == (ROOT, 6) else [str(i) for i in range(n)]
            names.extend(f"{bone}_{d}" for d in dofs)
            pairs.extend((bone, d) for d in dofs)
    expected = dict(layout)
    required = [b for b, n in layout if n]
    where = "the skeleton" if skeleton is not None else f"the first frame (frame {frames[0][0]}, line {frames[0][1]})"

    # pass 2: check every frame against the layout and fill the matrix
    X = np.empty((len(frames), len(names)), dtype=float)
    for row, (number, frame_line, entries) in enumerate(frames):
        got: dict[str, np.ndarray] = {}
        for bone, values, lineno in entries:
            if bone not in expected:
                raise _fail(path, lineno, f"bone {bone!r} (frame {number}) is not in {where}")
            if bone in got:
                raise _fail(path, lineno, f"bone {bone!r} appears twice in frame {number}")
            if len(values) != expected[bone]:
                raise _fail(
                    path,
                    lineno,
                    f"bone {bone!r} has {len(values)} value(s) in frame {number}, "
                    f"expected {expected[bone]} (from {where})",
                )
            got[bone] = values
        missing = [b for b in required if b not in got]
        if missing:
            raise _fail(path, frame_line, f"frame {number} lacks bone(s) {missing}")
        if required:
            X[row] = np.concatenate([got[b] for b in required])
    return names, pairs, np.array([f[0] for f in frames], dtype=np.int64), X, angle


def read_amc(path: PathType, skeleton: Skeleton | Mapping | PathType | None = None, *, fps: float = 120.0) -> AnnData:
    """Read an AMC (Acclaim motion) file into frames x channels.

    Parameters
    ----------
    path
        The ``.amc`` file.
    skeleton
        Its :class:`Skeleton` (or an ASF path, or a :meth:`Skeleton.to_dict` dict). With a skeleton the variables are
        :meth:`Skeleton.channels` (root first, then bones in ASF order), every bone is checked against it, and the
        skeleton is stored in ``uns["skeleton"]``. Without one, the layout of the first frame is used and every other
        frame must match it; channels are named ``<bone>_<i>`` (``i`` = position of the value on the bone's line,
        from 0, e.g. ``lfemur_0``), except a six-valued root, which gets the ASF default ``root_tx`` ... ``root_rz``.
    fps
        Frames per second of the capture (CMU: 120).

    Returns
    -------
    AnnData
        ``X``: ``(frames, channels)`` float64 values as written (angles in the file's unit, root translation in the
        skeleton's length unit). ``obs["frame"]``: frame number from the file; ``obs["time"]``: seconds since the first
        frame, ``(frame - first frame) / fps``; ``obs["trial"]``: the file stem (categorical). ``var["bone"]``,
        ``var["dof"]``: which bone and degree of freedom each channel is. ``uns["skeleton"]`` (with a skeleton) and
        ``uns["mocap"] = {"fps", "angle_unit", "files"}``.

    Raises
    ------
    FileNotFoundError
        When a file does not exist.
    ValueError
        On a malformed line, a bone the skeleton lacks, a bone with the wrong number of values, or a frame that lacks
        a bone; the message starts with ``<path>:<line>:``. Nothing is padded.

    Examples
    --------
    >>> import tempfile
    >>> import sparsenode as sn
    >>> from sparsenode.io._mocap import _write_example
    >>> asf, amc = _write_example(tempfile.mkdtemp())
    >>> adata = sn.io.read_amc(amc, sn.io.read_asf(asf), fps=60)
    >>> adata.shape, list(adata.obs["time"])
    ((3, 10), [0.0, 0.016666666666666666, 0.03333333333333333])
    >>> list(sn.io.read_amc(amc).var_names[6:])  # no skeleton: bone name + value index
    ['femur_0', 'femur_1', 'femur_2', 'tibia_0']
    """
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    sk = _as_skeleton(skeleton)
    names, pairs, frames, X, angle = _parse_amc(path, sk)
    stem = Path(path).stem
    obs = pd.DataFrame(
        {
            "frame": frames,
            "time": (frames - frames[0]) / float(fps),
            "trial": pd.Categorical([stem] * len(frames)),
        },
        index=[f"{stem}:{f}" for f in frames],
    )
    var = pd.DataFrame({"bone": [b for b, _ in pairs], "dof": [d for _, d in pairs]}, index=names)
    adata = AnnData(X=X, obs=obs, var=var)
    adata.uns["mocap"] = {"fps": float(fps), "angle_unit": angle, "files": np.array([str(path)])}
    if sk is not None:
        adata.uns["skeleton"] = sk.to_dict()
    return adata


def read_mocap(
    asf: Skeleton | PathType | None, amc_files: PathType | Iterable[PathType], *, fps: float = 120.0
) -> AnnData:
    """Read several AMC trials of one subject and stack them.

    Parameters
    ----------
    asf
        The subject's ASF file (or :class:`Skeleton`); ``None`` reads without a skeleton (see :func:`read_amc`).
    amc_files
        One AMC path or several.
    fps
        Frames per second of the capture (CMU: 120).

    Returns
    -------
    AnnData
        Frames of all trials in the given order, with the fields of :func:`read_amc`; ``obs["trial"]`` is the file
        stem (categorical, categories in file order) and ``obs["time"]`` restarts at 0 for each trial.

    Raises
    ------
    ValueError
        When two files share a stem, or the trials have different channels (only possible without a skeleton).

    Examples
    --------
    >>> import tempfile
    >>> import sparsenode as sn
    >>> from sparsenode.io._mocap import _write_example
    >>> asf, amc = _write_example(tempfile.mkdtemp())
    >>> adata = sn.io.read_mocap(asf, [amc])
    >>> adata.obs["trial"].cat.categories.tolist(), adata.n_vars
    (['walk'], 10)
    """
    if isinstance(amc_files, str | PathLike):
        amc_files = [amc_files]
    files = [Path(p) for p in amc_files]
    if not files:
        raise ValueError("no AMC files given")
    stems = [p.stem for p in files]
    dup = sorted({s for s in stems if stems.count(s) > 1})
    if dup:
        raise ValueError(f"AMC files must have distinct names (stems) to label trials; repeated: {dup}")
    sk = _as_skeleton(asf)
    parts = [read_amc(p, sk, fps=fps) for p in files]
    first = parts[0]
    for p, part in zip(files[1:], parts[1:], strict=True):
        if list(part.var_names) != list(first.var_names):
            raise ValueError(f"{p} has channels {list(part.var_names)}, but {files[0]} has {list(first.var_names)}")
        if part.uns["mocap"]["angle_unit"] != first.uns["mocap"]["angle_unit"]:
            raise ValueError(f"{p} and {files[0]} use different angle units")
    obs = pd.concat([part.obs for part in parts])
    obs["trial"] = pd.Categorical(obs["trial"].astype(str), categories=stems)
    adata = AnnData(X=np.concatenate([part.X for part in parts]), obs=obs, var=first.var.copy())
    adata.uns["mocap"] = {**first.uns["mocap"], "files": np.array([str(p) for p in files])}
    if sk is not None:
        adata.uns["skeleton"] = sk.to_dict()
    return adata


# --------------------------------------------------------------------------------------------------------------------
# forward kinematics


def _rot(axis: str, theta: np.ndarray) -> np.ndarray:
    """Rotation matrices ``(n, 3, 3)`` about ``axis`` ('x', 'y' or 'z') by ``theta`` radians (column vectors)."""
    c, s = np.cos(theta), np.sin(theta)
    one, zero = np.ones_like(theta), np.zeros_like(theta)
    if axis == "x":
        m = [[one, zero, zero], [zero, c, -s], [zero, s, c]]
    elif axis == "y":
        m = [[c, zero, s], [zero, one, zero], [-s, zero, c]]
    else:
        m = [[c, -s, zero], [s, c, zero], [zero, zero, one]]
    return np.moveaxis(np.array(m, dtype=float), (0, 1), (-2, -1))


def _euler(angles: Sequence[np.ndarray], axes: Sequence[str], n: int) -> np.ndarray:
    """Compose rotations applied in the given order: ``R_last @ ... @ R_first``; ``(n, 3, 3)``."""
    out = np.broadcast_to(np.eye(3), (n, 3, 3)).copy()
    for theta, ax in zip(angles, axes, strict=True):
        out = _rot(ax, np.broadcast_to(theta, (n,))) @ out
    return out


def forward_kinematics(
    skeleton: Skeleton | Mapping,
    frames: Any,
    channels: Sequence[str] | None = None,
    *,
    fill_missing: bool = False,
) -> np.ndarray:
    """Compute 3-D joint positions from a skeleton and AMC channel values.

    Follows the ASF/AMC convention (see the module notes): the root moves by ``position + (tx, ty, tz)`` and turns
    by its ``rx, ry, rz`` in the order of ``root_order``; every bone turns by ``C @ M @ C.T`` on top of its parent's
    rotation, ``C`` from its ``axis`` line and ``M`` from its dof angles, and ends at
    ``parent_end + R @ (direction * length)``. With all angles zero each bone ends at
    ``parent_end + direction * length`` (the rest pose).

    Parameters
    ----------
    skeleton
        A :class:`Skeleton` or its :meth:`~Skeleton.to_dict` (e.g. ``adata.uns["skeleton"]``).
    frames
        Channel values: an array ``(n_frames, n_channels)`` or ``(n_channels,)``, a :class:`pandas.DataFrame`
        whose columns are channel names, or an :class:`~anndata.AnnData` from :func:`read_amc`.
    channels
        Names of the columns of ``frames``; default: the DataFrame's columns, the AnnData's ``var_names``, or
        ``skeleton.channels()`` for an array.
    fill_missing
        Treat skeleton channels absent from ``channels`` as 0 instead of raising.

    Returns
    -------
    numpy.ndarray
        ``(n_frames, 1 + n_bones, 3)`` positions in the skeleton's length unit: index 0 is the root, index ``i + 1``
        the end of bone ``skeleton.bone_names[i]`` (names in ``skeleton.joints``).

    Raises
    ------
    ValueError
        When channel names are unknown or repeated, skeleton channels are missing (unless ``fill_missing``), the
        shapes disagree, or a bone has translation/length dofs (not supported).

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> import sparsenode as sn
    >>> from sparsenode.io._mocap import _write_example
    >>> asf, amc = _write_example(tempfile.mkdtemp())
    >>> sk = sn.io.read_asf(asf)
    >>> rest = sn.io.forward_kinematics(sk, np.zeros(len(sk.channels())))
    >>> rest.shape, np.round(rest[0, -1], 6).tolist()  # tibia end: 1 + 4 + 4 below the root
    ((1, 4, 3), [1.0, -8.0, 0.0])
    >>> bent = sn.io.forward_kinematics(sk, sn.io.read_amc(amc, sk))
    >>> bent.shape
    (3, 4, 3)
    """
    sk = _as_skeleton(skeleton)
    if sk is None:
        raise ValueError("forward_kinematics needs a skeleton")
    if isinstance(frames, AnnData):
        values = frames.X.toarray() if hasattr(frames.X, "toarray") else np.asarray(frames.X)
        channels = list(frames.var_names) if channels is None else list(channels)
    elif isinstance(frames, pd.DataFrame):
        values = frames.to_numpy(dtype=float)
        channels = [str(c) for c in frames.columns] if channels is None else list(channels)
    else:
        values = np.asarray(frames, dtype=float)
        channels = sk.channels() if channels is None else list(channels)
    values = np.atleast_2d(np.asarray(values, dtype=float))
    if values.ndim != 2 or values.shape[1] != len(channels):
        raise ValueError(f"frames has shape {values.shape} but {len(channels)} channel names were given")
    index = {c: i for i, c in enumerate(channels)}
    if len(index) != len(channels):
        raise ValueError("channel names repeat")
    wanted = sk.channels()
    unknown = sorted(set(channels) - set(wanted))
    if unknown:
        raise ValueError(f"channels not in the skeleton: {unknown[:10]}")
    missing = [c for c in wanted if c not in index]
    if missing and not fill_missing:
        raise ValueError(f"skeleton channels missing from the input: {missing[:10]}; pass fill_missing=True to use 0")

    n = values.shape[0]
    zero = np.zeros(n)
    to_rad = np.pi / 180.0 if sk.units.get("angle", "deg") == "deg" else 1.0

    def column(name: str) -> np.ndarray:
        return values[:, index[name]] if name in index else zero

    # root
    trans = np.stack([column(f"{ROOT}_t{a}") for a in "xyz"], axis=1) + np.asarray(sk.root_position, dtype=float)
    rot_dofs = [c.lower()[1] for c in sk.root_order if c.upper().startswith("R")]
    m_root = _euler([column(f"{ROOT}_r{a}") * to_rad for a in rot_dofs], rot_dofs, n)
    c_root = _euler(list(np.asarray(sk.root_orientation, dtype=float) * to_rad), sk.root_axis.lower(), 1)
    rot = {ROOT: c_root @ m_root @ np.swapaxes(c_root, -1, -2)}
    pos = {ROOT: trans}
    parents = sk.parents
    for name in sk.topological_order():
        bone = sk.bones[name]
        bad = [d for d in bone.dof if d not in _ROTATION_DOFS]
        if bad:
            raise ValueError(f"bone {name!r} has dof {bad}; only rotations (rx, ry, rz) are supported")
        c = _euler(list(np.asarray(bone.axis, dtype=float) * to_rad), bone.axis_order.lower(), 1)
        m = _euler([column(f"{name}_{d}") * to_rad for d in bone.dof], [d[1] for d in bone.dof], n)
        r = rot[parents[name]] @ c @ m @ np.swapaxes(c, -1, -2)
        offset = np.asarray(bone.direction, dtype=float) * float(bone.length)
        rot[name] = r
        pos[name] = pos[parents[name]] + r @ offset
    return np.stack([pos[j] for j in sk.joints], axis=1)


# --------------------------------------------------------------------------------------------------------------------
# tiny example files for docstrings

_EXAMPLE_ASF = """\
# a three-bone leg
:version 1.10
:name example
:units
  mass 1.0
  length 1.0
  angle deg
:root
  order TX TY TZ RX RY RZ
  axis XYZ
  position 0 0 0
  orientation 0 0 0
:bonedata
  begin
    id 1
    name hip
    direction 1 0 0
    length 1
    axis 0 0 0 XYZ
  end
  begin
    id 2
    name femur
    direction 0 -1 0
    length 4
    axis 0 0 20 XYZ
    dof rx ry rz
    limits (-160.0 20.0)
           (-70.0 70.0)
           (-60.0 70.0)
  end
  begin
    id 3
    name tibia
    direction 0 -1 0
    length 4
    axis 0 0 20 XYZ
    dof rx
    limits (-10.0 170.0)
  end
:hierarchy
  begin
    root hip
    hip femur
    femur tibia
  end
"""

_EXAMPLE_AMC = """\
:FULLY-SPECIFIED
:DEGREES
1
root 0 9 0 0 0 0
femur -10 0 0
tibia 20
2
root 0 9 0.5 0 0 0
femur -20 0 0
tibia 40
3
root 0 9 1 0 0 0
femur -30 0 0
tibia 60
"""


def _write_example(folder: PathType) -> tuple[Path, Path]:
    """Write ``leg.asf`` and ``walk.amc`` (3 frames, 10 channels) into ``folder``; return their paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    asf, amc = folder / "leg.asf", folder / "walk.amc"
    asf.write_text(_EXAMPLE_ASF)
    amc.write_text(_EXAMPLE_AMC)
    return asf, amc
