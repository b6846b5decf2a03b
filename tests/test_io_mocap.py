import matplotlib

matplotlib.use("Agg")

import io

import anndata as ad
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

import sparsenode as sn
from sparsenode.io import Skeleton, forward_kinematics, read_amc, read_asf, read_mocap
from sparsenode.pl._skeleton import skeleton as plot_skeleton

# A small body: root -> pelvis -> {lleg -> lshin, spine -> neck}. Line numbers matter for the error tests.
ASF = """\
# tiny test skeleton
:version 1.10
:name tiny
:units
  mass 1.0
  length 0.5
  angle deg
:documentation
  written by the test suite
:root
  order TX TY TZ RX RY RZ
  axis XYZ
  position 0 0 0
  orientation 0 0 0
:bonedata
  begin
    id 1
    name pelvis
    direction 2 0 0
    length 1.0
    axis 0 0 0 XYZ
  end
  begin
    id 2
    name lleg
    direction 0 -1 0
    length 3.0
    axis 0 0 20 XYZ
    dof rx ry rz
    limits (-160.0 20.0)
           (-70.0 70.0)
           (-60.0 70.0)
  end
  begin
    id 3
    name lshin
    direction 0 -1 0
    length 2.5
    axis 0 0 20 XYZ
    dof rx
    limits (-10.0 170.0)
  end
  begin
    id 4
    name spine
    direction 0 1 0
    length 4.0
    axis 0 0 0 XYZ
    dof rx rz
  end
  begin
    id 5
    name neck
    direction 0 0.6 0.8
    length 1.0
    axis 10 20 30 ZYX
    dof ry
    limits (-30 30)
  end
:hierarchy
  begin
    root pelvis
    pelvis lleg spine
    lleg lshin
    spine neck
  end
"""

CHANNELS = [
    "root_tx",
    "root_ty",
    "root_tz",
    "root_rx",
    "root_ry",
    "root_rz",
    "lleg_rx",
    "lleg_ry",
    "lleg_rz",
    "lshin_rx",
    "spine_rx",
    "spine_rz",
    "neck_ry",
]

AMC = """\
#!OML:ASF tiny.asf
:FULLY-SPECIFIED
:DEGREES
1
root 1 2 3 4 5 6
spine 10 11
lleg 7 8 9
lshin 10
neck 12
2
root 1.5 2 3 4 5 6
lleg 7 8 9
lshin 10
spine 10 11
neck 13
3
root 2 2 3 4 5 6
lleg 7 8 9
lshin 11
spine 10 11
neck 14
"""


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def _replace_line(text, lineno, new):
    lines = text.splitlines()
    lines[lineno - 1] = new
    return "\n".join(lines) + "\n"


@pytest.fixture
def tiny(tmp_path):
    return _write(tmp_path, "tiny.asf", ASF), _write(tmp_path, "trial_a.amc", AMC)


def _png_ink(fig) -> float:
    """Fraction of pixels of the saved PNG that are not white."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=60)
    buf.seek(0)
    img = plt.imread(buf)[..., :3]
    return float((img < 0.9).any(axis=-1).mean())


# ---------------------------------------------------------------------------------------------------------------- ASF


def test_read_asf_tiny(tiny):
    sk = read_asf(tiny[0])
    assert sk.name == "tiny"
    assert sk.units == {"mass": 1.0, "length": 0.5, "angle": "deg"}
    assert sk.bone_names == ["pelvis", "lleg", "lshin", "spine", "neck"]
    assert sk.joints == ["root", *sk.bone_names]
    assert sk.hierarchy == {"root": ["pelvis"], "pelvis": ["lleg", "spine"], "lleg": ["lshin"], "spine": ["neck"]}
    assert sk.parents["lshin"] == "lleg"
    pelvis, lleg, neck = sk.bones["pelvis"], sk.bones["lleg"], sk.bones["neck"]
    np.testing.assert_allclose(pelvis.direction, [1, 0, 0])  # normalised from (2, 0, 0)
    assert pelvis.dof == [] and pelvis.limits.shape == (0, 2)
    assert lleg.dof == ["rx", "ry", "rz"] and lleg.length == 3.0 and lleg.id == 2
    np.testing.assert_allclose(lleg.limits, [[-160, 20], [-70, 70], [-60, 70]])
    np.testing.assert_allclose(lleg.axis, [0, 0, 20])
    assert neck.axis_order == "ZYX"
    assert np.isinf(sk.bones["spine"].limits).all()  # no limits line: unbounded
    assert sk.channels() == CHANNELS
    assert sk.topological_order().index("lleg") < sk.topological_order().index("lshin")


def test_skeleton_dict_h5ad_round_trip(tiny, tmp_path):
    sk = read_asf(tiny[0])
    adata = ad.AnnData(np.zeros((1, 1)))
    adata.uns["skeleton"] = sk.to_dict()
    adata.write_h5ad(tmp_path / "sk.h5ad")
    back = Skeleton.from_dict(ad.read_h5ad(tmp_path / "sk.h5ad").uns["skeleton"])
    assert back.bone_names == sk.bone_names
    assert back.channels() == sk.channels()
    assert back.hierarchy == sk.hierarchy
    assert back.units == sk.units
    assert back.root_order == sk.root_order
    for name, bone in sk.bones.items():
        other = back.bones[name]
        assert other.dof == bone.dof and other.axis_order == bone.axis_order and other.id == bone.id
        np.testing.assert_array_equal(other.direction, bone.direction)
        np.testing.assert_array_equal(other.limits, bone.limits)
        assert other.length == bone.length


def test_skeleton_from_bad_dict():
    with pytest.raises(ValueError, match="not a skeleton dict"):
        Skeleton.from_dict({"bones": {}})


@pytest.mark.parametrize(
    ("lineno", "new", "match"),
    [
        (19, "    direction 2 0", "direction needs 3 numbers"),
        (19, "    direction 2 0 zero", "direction must be numbers"),
        (19, "    direction 0 0 0", "bone 'pelvis' has a zero direction"),
        (20, "    lenght 1.0", "unknown bone keyword 'lenght'"),
        (21, "    axis 0 0 0 XYQ", "axis order must be a permutation of XYZ"),
        (23, "  id 9", "bone data outside a begin/end block"),
        (36, "    name lleg", "duplicate bone name 'lleg'"),
        (49, "    dof rx rw", "dof must list distinct"),
        (40, "    dof rx rx", "dof must list distinct"),
        (43, ":bonedata", "section ':bonedata' appears twice"),
        (58, "    limits (-30 30", "limits must look like"),
        (2, ":versions 1.10", "unknown section"),
        (6, "  length half", "unit 'length' must be numbers"),
        (7, "  angle grad", "angle unit must be"),
        (62, "    root pelvis foot", "unknown bone 'foot'"),
        (65, "    spine lshin", "more than one parent"),
    ],
)
def test_read_asf_malformed_names_file_and_line(tmp_path, lineno, new, match):
    path = _write(tmp_path, "bad.asf", _replace_line(ASF, lineno, new))
    with pytest.raises(ValueError, match=match) as err:
        read_asf(path)
    assert f"{path}:{lineno}:" in str(err.value)


def _drop_lines(text, *linenos):
    return "\n".join(line for i, line in enumerate(text.splitlines(), 1) if i not in linenos) + "\n"


def test_read_asf_structure_errors(tmp_path):
    cases = [
        (_drop_lines(ASF, 31, 32), 30, "bone 'lleg' has 3 dof but 1 limits"),
        (_drop_lines(ASF, 22), 22, "'begin' inside the bone starting on line 16"),
        (_drop_lines(ASF, 66), 65, ":hierarchy block has no 'end'"),
        (_drop_lines(ASF, 65), 65, "cut off: \\['neck'\\]"),  # last line of the (shorter) file
        (ASF.split(":hierarchy")[0], 59, "no :hierarchy"),
        (_drop_lines(ASF, 26), 32, "bone starting on line 23 has no 'direction'"),
        ("  mass 1.0\n" + ASF, 1, "text before the first ':section'"),
    ]
    for i, (text, lineno, match) in enumerate(cases):
        path = _write(tmp_path, f"bad{i}.asf", text)
        with pytest.raises(ValueError, match=match) as err:
            read_asf(path)
        assert f"{path}:{lineno}:" in str(err.value), (match, str(err.value))
    with pytest.raises(FileNotFoundError):
        read_asf(tmp_path / "absent.asf")


# ---------------------------------------------------------------------------------------------------------------- AMC


def test_read_amc_with_skeleton(tiny):
    asf, amc = tiny
    sk = read_asf(asf)
    adata = read_amc(amc, sk, fps=10.0)
    assert adata.shape == (3, 13)
    assert list(adata.var_names) == CHANNELS
    assert list(adata.var["bone"][:7]) == ["root"] * 6 + ["lleg"]
    assert list(adata.var["dof"][6:9]) == ["rx", "ry", "rz"]
    # values land in skeleton order whatever the order of lines in the file
    np.testing.assert_array_equal(adata.X[0], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 10, 11, 12])
    np.testing.assert_array_equal(adata[:, "neck_ry"].X.ravel(), [12, 13, 14])
    assert list(adata.obs["frame"]) == [1, 2, 3]
    np.testing.assert_allclose(adata.obs["time"], [0.0, 0.1, 0.2])
    assert list(adata.obs["trial"]) == ["trial_a"] * 3
    assert isinstance(adata.obs["trial"].dtype, pd.CategoricalDtype)
    assert Skeleton.from_dict(adata.uns["skeleton"]).channels() == CHANNELS
    assert adata.uns["mocap"]["fps"] == 10.0 and adata.uns["mocap"]["angle_unit"] == "deg"
    # a path or a dict works as the skeleton too
    np.testing.assert_array_equal(read_amc(amc, asf).X, adata.X)
    np.testing.assert_array_equal(read_amc(amc, sk.to_dict()).X, adata.X)


def test_read_amc_without_skeleton(tiny):
    adata = read_amc(tiny[1])
    assert list(adata.var_names) == [
        "root_tx",
        "root_ty",
        "root_tz",
        "root_rx",
        "root_ry",
        "root_rz",
        "spine_0",
        "spine_1",
        "lleg_0",
        "lleg_1",
        "lleg_2",
        "lshin_0",
        "neck_0",
    ]
    np.testing.assert_array_equal(adata[:, "spine_1"].X.ravel(), [11, 11, 11])
    assert "skeleton" not in adata.uns


def test_read_amc_h5ad_round_trip(tiny, tmp_path):
    adata = read_amc(tiny[1], read_asf(tiny[0]))
    adata.write_h5ad(tmp_path / "m.h5ad")
    back = ad.read_h5ad(tmp_path / "m.h5ad")
    np.testing.assert_array_equal(back.X, adata.X)
    pd.testing.assert_frame_equal(back.obs, adata.obs)
    np.testing.assert_allclose(
        forward_kinematics(back.uns["skeleton"], back), forward_kinematics(adata.uns["skeleton"], adata)
    )


@pytest.mark.parametrize(
    ("lineno", "new", "match", "with_skeleton"),
    [
        (7, "foot 7 8 9", "bone 'foot' \\(frame 1\\) is not in the skeleton", True),
        (12, "lleg 7 8", "bone 'lleg' has 2 value\\(s\\) in frame 2, expected 3", True),
        (12, "lleg 7 8", "bone 'lleg' has 2 value\\(s\\) in frame 2, expected 3", False),
        (8, "lshin 1 2", "has 2 value\\(s\\) in frame 1, expected 1", True),
        (13, "lshin ten", "values of 'lshin' must be numbers", True),
        (13, "lleg 1 2 3", "bone 'lleg' appears twice in frame 2", True),
        (10, "two", "bone 'two' \\(frame 1\\) is not in the skeleton", True),
        (20, "pelvis 1", "bone 'pelvis' has 1 value\\(s\\) in frame 3, expected 0", True),
        (20, "foot 1", "not in the first frame", False),
    ],
)
def test_read_amc_malformed_names_file_and_line(tmp_path, tiny, lineno, new, match, with_skeleton):
    path = _write(tmp_path, "bad.amc", _replace_line(AMC, lineno, new))
    sk = read_asf(tiny[0]) if with_skeleton else None
    with pytest.raises(ValueError, match=match) as err:
        read_amc(path, sk)
    assert f"{path}:{lineno}:" in str(err.value)


def test_read_amc_missing_bone_and_structure(tmp_path, tiny):
    sk = read_asf(tiny[0])
    path = _write(tmp_path, "gap.amc", _drop_lines(AMC, 13))  # 'lshin 10' of frame 2 (starts on line 10)
    for skel in (sk, None):  # never padded, with or without a skeleton
        with pytest.raises(ValueError, match=f"{path}:10: frame 2 lacks bone\\(s\\) \\['lshin'\\]"):
            read_amc(path, skel)
    path = _write(tmp_path, "early.amc", ":DEGREES\nroot 1 2 3 4 5 6\n1\n")
    with pytest.raises(ValueError, match=f"{path}:2: bone values before the first frame"):
        read_amc(path)
    path = _write(tmp_path, "empty.amc", ":FULLY-SPECIFIED\n:DEGREES\n")
    with pytest.raises(ValueError, match=f"{path}:2: no frames"):
        read_amc(path)
    path = _write(tmp_path, "kw.amc", AMC + ":RADIANS\n")
    with pytest.raises(ValueError, match=f"{path}:22: keyword ':RADIANS' after the first frame"):
        read_amc(path)
    with pytest.raises(ValueError, match="fps must be positive"):
        read_amc(tiny[1], fps=0)


def test_read_mocap_concatenates_trials(tiny, tmp_path):
    asf, amc = tiny
    amc_b = _write(tmp_path, "trial_b.amc", "\n".join(AMC.splitlines()[:15]) + "\n")  # frames 1 and 2 only
    adata = read_mocap(asf, [amc_b, amc], fps=10.0)
    assert adata.shape == (5, 13)
    assert adata.obs["trial"].cat.categories.tolist() == ["trial_b", "trial_a"]
    assert list(adata.obs["trial"]) == ["trial_b"] * 2 + ["trial_a"] * 3
    np.testing.assert_allclose(adata.obs["time"], [0, 0.1, 0, 0.1, 0.2])
    assert adata.obs_names.is_unique
    assert "skeleton" in adata.uns
    with pytest.raises(ValueError, match="distinct names"):
        read_mocap(asf, [amc, amc])
    assert read_mocap(None, amc).n_vars == 13


# ---------------------------------------------------------------------------------------------------------------- FK


def _rest_pose_expected(sk):
    ends = {"root": np.asarray(sk.root_position, dtype=float)}
    for name in sk.topological_order():
        bone = sk.bones[name]
        ends[name] = ends[sk.parents[name]] + bone.direction * bone.length
    return np.stack([ends[j] for j in sk.joints])


def test_fk_rest_pose(tiny):
    sk = read_asf(tiny[0])
    pos = forward_kinematics(sk, np.zeros(len(sk.channels())))
    assert pos.shape == (1, 6, 3)
    np.testing.assert_allclose(pos[0], _rest_pose_expected(sk), atol=1e-12)
    np.testing.assert_allclose(pos[0, sk.joints.index("lshin")], [1, -5.5, 0])


def test_fk_known_rotations(tiny):
    sk = read_asf(tiny[0])
    idx = {c: i for i, c in enumerate(sk.channels())}

    def pose(**values):
        x = np.zeros(len(idx))
        for k, v in values.items():
            x[idx[k]] = v
        return forward_kinematics(sk, x)[0]

    j = sk.joints.index
    # root translation moves everything
    np.testing.assert_allclose(pose(root_tx=1, root_ty=2, root_tz=3)[j("lshin")], [2, -3.5, 3])
    # root ry = 90 deg turns x into -z
    np.testing.assert_allclose(pose(root_ry=90)[j("pelvis")], [0, 0, -1], atol=1e-12)
    # the leg bends 90 deg about its local x axis; its axis (0 0 20) is a turn about z, so local x is global
    # (cos 20, sin 20, 0), and (0, -1, 0) rotated by 90 deg about that axis is (sin 20, -cos 20, 0) x (cos, sin, 0)
    a = np.deg2rad(20)
    k = np.array([np.cos(a), np.sin(a), 0.0])
    v = np.array([0.0, -1.0, 0.0])
    rotated = k * (k @ v) + np.cross(k, v)  # Rodrigues at 90 degrees
    p = pose(lleg_rx=90)
    np.testing.assert_allclose(p[j("lleg")] - p[j("pelvis")], 3.0 * rotated, atol=1e-12)
    np.testing.assert_allclose(p[j("lshin")] - p[j("lleg")], 2.5 * rotated, atol=1e-12)  # the shin follows


def test_fk_keeps_bone_lengths_and_input_forms(tiny):
    sk = read_asf(tiny[0])
    rng = np.random.default_rng(0)
    x = rng.uniform(-90, 90, size=(7, len(sk.channels())))
    pos = forward_kinematics(sk, x)
    for name in sk.bone_names:
        d = pos[:, sk.joints.index(name)] - pos[:, sk.joints.index(sk.parents[name])]
        np.testing.assert_allclose(np.linalg.norm(d, axis=1), sk.bones[name].length)
    df = pd.DataFrame(x, columns=sk.channels())[sk.channels()[::-1]]  # column order does not matter
    np.testing.assert_allclose(forward_kinematics(sk, df), pos)
    np.testing.assert_allclose(forward_kinematics(sk.to_dict(), x, sk.channels()), pos)
    with pytest.raises(ValueError, match="missing from the input"):
        forward_kinematics(sk, df.drop(columns="neck_ry"))
    filled = forward_kinematics(sk, df.drop(columns="neck_ry"), fill_missing=True)
    np.testing.assert_allclose(filled[:, :-1], pos[:, :-1])
    with pytest.raises(ValueError, match="not in the skeleton"):
        forward_kinematics(sk, df.rename(columns={"neck_ry": "neck_rq"}))
    with pytest.raises(ValueError, match="channel names were given"):
        forward_kinematics(sk, x[:, :3])


def test_plot_skeleton_tiny(tiny):
    adata = read_amc(tiny[1], read_asf(tiny[0]))
    ax = plot_skeleton(adata, frames=[0, -1], show=False)
    assert ax.name == "3d" and len(ax.lines) == 2 * 5
    assert _png_ink(ax.figure) > 0.005
    plt.close(ax.figure)
    with pytest.raises(IndexError):
        plot_skeleton(adata, frames=3, show=False)
    del adata.uns["skeleton"]
    with pytest.raises(KeyError, match="read_asf"):
        plot_skeleton(adata, show=False)


# ------------------------------------------------------------------------------------------------------ real data


def test_real_cmu_07(shared_data, tmp_path):
    mocap = shared_data / "mocap"
    sk = read_asf(mocap / "07-walk.asf")
    assert len(sk.bones) == 30
    assert len(sk.channels()) == 62
    assert sk.units["length"] == 0.45
    # lengths are kept as written in the ASF (length unit not applied)
    assert sk.bones["lfemur"].length == 6.92462
    assert sk.bones["head"].length == 1.52456
    assert sk.bones["rthumb"].length == 0.718216
    adata = read_amc(mocap / "07_01.amc", sk)
    assert adata.shape == (316, 62)
    assert list(adata.var_names) == sk.channels()
    np.testing.assert_allclose(
        adata[0, [f"root_{c}" for c in ("tx", "ty", "tz")]].X.ravel(), [8.87208, 15.7511, -31.7081]
    )
    assert adata.obs["frame"].iloc[-1] == 316
    np.testing.assert_allclose(adata.obs["time"].iloc[-1], 315 / 120)
    adata.write_h5ad(tmp_path / "07_01.h5ad")
    back = ad.read_h5ad(tmp_path / "07_01.h5ad")
    np.testing.assert_array_equal(back.X, adata.X)
    back_sk = Skeleton.from_dict(back.uns["skeleton"])
    assert back_sk.channels() == sk.channels()
    assert {b: back_sk.bones[b].length for b in sk.bones} == {b: sk.bones[b].length for b in sk.bones}

    both = read_mocap(mocap / "07-walk.asf", [mocap / "07_01.amc", mocap / "07_02.amc"])
    assert both.shape == (316 + 329, 62)
    assert both.obs["trial"].value_counts().to_dict() == {"07_02": 329, "07_01": 316}


def test_real_cmu_35_without_skeleton(shared_data):
    a = read_amc(shared_data / "mocap" / "35_01.amc")
    b = read_amc(shared_data / "mocap" / "35_10.amc")
    assert a.shape == (358, 62) and b.shape == (432, 62)
    assert list(a.var_names) == list(b.var_names)
    assert list(a.var_names[:7]) == ["root_tx", "root_ty", "root_tz", "root_rx", "root_ry", "root_rz", "lowerback_0"]


def test_real_forward_kinematics(shared_data):
    mocap = shared_data / "mocap"
    sk = read_asf(mocap / "07-walk.asf")
    rest = forward_kinematics(sk, np.zeros((1, 62)))
    np.testing.assert_allclose(rest[0], _rest_pose_expected(sk), atol=1e-9)
    adata = read_amc(mocap / "07_01.amc", sk)
    pos = forward_kinematics(sk, adata)
    assert pos.shape == (316, 31, 3)
    j = sk.joints.index
    for name in sk.bone_names:  # every bone keeps its length in every frame
        d = np.linalg.norm(pos[:, j(name)] - pos[:, j(sk.parents[name])], axis=1)
        np.testing.assert_allclose(d, sk.bones[name].length, rtol=1e-9)
    height = pos[..., 1]
    assert (height[:, j("head")] > height[:, j("lowerback")]).all()  # upright: y is up
    assert (height[:, j("lowerback")] > height[:, j("ltoes")]).all()
    assert np.abs(height[:, [j("ltoes"), j("rtoes")]].min(axis=1)).max() < 3.0  # a foot near the floor
    travelled = np.linalg.norm(pos[-1, 0, [0, 2]] - pos[0, 0, [0, 2]])
    assert travelled > 20  # in ASF units: 20 * 2.54 / 100 / 0.45 = 1.1 m


def test_real_skeleton_plot(shared_data, tmp_path):
    mocap = shared_data / "mocap"
    adata = read_amc(mocap / "07_01.amc", read_asf(mocap / "07-walk.asf"))
    fig = plt.figure(figsize=(8, 5))
    for i, frame in enumerate([0, 150]):
        ax = plot_skeleton(adata, frames=frame, ax=fig.add_subplot(1, 2, i + 1, projection="3d"), show=False)
        assert len(ax.lines) == 30
    fig.savefig(tmp_path / "skel.png")
    assert (tmp_path / "skel.png").stat().st_size > 0
    assert _png_ink(fig) > 0.005
    plt.close(fig)


def test_mocap35(shared_data):
    from scipy.io import loadmat

    path = shared_data / "mocap" / "mocap35.mat"
    adata = sn.datasets.mocap35(path.parent)
    assert adata.shape == ((16 + 3 + 4) * 300, 50)
    assert list(adata.var_names[[0, -1]]) == ["channel_0", "channel_49"]
    per_split = adata.obs.groupby("split", observed=True)["trial"].nunique().to_dict()
    assert per_split == {"train": 16, "val": 3, "test": 4}
    assert adata.obs["split"].cat.categories.tolist() == ["train", "val", "test"]
    assert (adata.obs.groupby("trial", observed=True).size() == 300).all()
    assert adata.obs["trial"].iloc[0] == "train_00" and adata.obs["trial"].iloc[-1] == "test_03"
    np.testing.assert_allclose(adata.obs["time"].iloc[:3], [0.0, 0.1, 0.2])
    mat = loadmat(path)
    for split, key in [("train", "Xtr"), ("val", "Xval"), ("test", "Xtest")]:
        np.testing.assert_array_equal(adata[adata.obs["split"] == split].X.reshape(mat[key].shape), mat[key])
    assert adata.uns["mocap35"]["dt"] == 0.1


def test_mocap35_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"mocap35\.mat"):
        sn.datasets.mocap35(tmp_path)
