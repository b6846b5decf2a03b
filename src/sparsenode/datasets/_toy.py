"""Toy gene-regulatory ODE systems with known networks and known intervention effects."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData
from scipy.integrate import solve_ivp

from .. import _keys

ODE_KEY = "ode"
LINEAGE_X0_KEY = "lineage_x0"
_PERTURBATION_MODES = ("knockout", "overexpression")


class HillODE:
    r"""A sparse, signed gene-regulatory ODE built from Hill functions.

    Gene :math:`i` follows

    .. math::

        \frac{dx_i}{dt} = v_i\, P_i(x) - k_i\, x_i, \qquad
        P_i(x) = \frac{b_i + \sum_{a} w_a h^+_a(x_a)}{b_i + \sum_a w_a} \prod_r h^-_r(x_r),

    with activators :math:`a`, repressors :math:`r`, :math:`h^+(x) = x^n / (K^n + x^n)` and
    :math:`h^-(x) = K^n / (K^n + x^n)`; every edge has its own threshold :math:`K` and Hill coefficient :math:`n`.
    A gene without activators has :math:`P_i = \prod_r h^-_r`; a gene without any regulator is produced at the
    constant rate :math:`v_i`. Negative states are treated as 0 inside the Hill functions. For a repressor only the
    sign of its weight matters; its strength is set by its ``K`` and ``n``.

    Parameters
    ----------
    var_names
        Gene names, length ``G``.
    source, target
        Per edge: index of the regulator and of the regulated gene (length ``E``).
    weight
        Per edge: signed coupling; ``> 0`` activation (its magnitude is :math:`w_a`), ``< 0`` repression.
    K, n
        Per edge: Hill threshold (``> 0``) and Hill coefficient (``> 0``).
    v, k, b
        Per gene: maximal production rate, degradation rate and basal activity (``b > 0`` where a gene has
        activators).

    Attributes
    ----------
    n_genes
        Number of genes ``G``.
    var_names
        Gene names (list of str).
    source, target, weight, K, n
        Edge arrays.
    v, k, b
        Gene parameter arrays.

    Examples
    --------
    A toggle switch: two genes that repress each other.

    >>> import numpy as np
    >>> from sparsenode.datasets import HillODE
    >>> ode = HillODE(["a", "b"], source=[0, 1], target=[1, 0], weight=[-1.0, -1.0],
    ...               K=[0.5, 0.5], n=[4, 4], v=[1.0, 1.0], k=[1.0, 1.0])
    >>> ode.network()[["source", "target", "sign"]].values.tolist()
    [['a', 'b', -1], ['b', 'a', -1]]
    >>> x = ode.simulate([0.6, 0.4], np.linspace(0, 10, 5))
    >>> x.shape
    (5, 2)
    >>> bool(x[-1, 0] > 0.9 and x[-1, 1] < 0.1)
    True
    """

    def __init__(
        self,
        var_names: Sequence[str],
        *,
        source: Sequence[int] | np.ndarray,
        target: Sequence[int] | np.ndarray,
        weight: Sequence[float] | np.ndarray,
        K: Sequence[float] | np.ndarray,
        n: Sequence[float] | np.ndarray,
        v: Sequence[float] | np.ndarray,
        k: Sequence[float] | np.ndarray,
        b: Sequence[float] | np.ndarray | None = None,
    ):
        self.var_names = [str(g) for g in var_names]
        self.n_genes = len(self.var_names)
        if len(set(self.var_names)) != self.n_genes:
            raise ValueError("var_names must be unique")
        G = self.n_genes
        self.source = np.asarray(source, dtype=np.int64).reshape(-1)
        self.target = np.asarray(target, dtype=np.int64).reshape(-1)
        self.weight = np.asarray(weight, dtype=np.float64).reshape(-1)
        self.K = np.asarray(K, dtype=np.float64).reshape(-1)
        self.n = np.asarray(n, dtype=np.float64).reshape(-1)
        E = self.source.size
        for name in ("target", "weight", "K", "n"):
            if getattr(self, name).size != E:
                raise ValueError(f"{name} has {getattr(self, name).size} entries, source has {E}")
        if E and (self.source.min() < 0 or self.source.max() >= G or self.target.min() < 0 or self.target.max() >= G):
            raise ValueError(f"edge indices must lie in [0, {G})")
        if np.any(self.weight == 0):
            raise ValueError("edge weights must be non-zero (their sign is the edge type)")
        if np.any(self.K <= 0) or np.any(self.n <= 0):
            raise ValueError("Hill thresholds K and coefficients n must be positive")
        if len(set(zip(self.source.tolist(), self.target.tolist(), strict=True))) != E:
            raise ValueError("duplicate edges: every (source, target) pair may appear once")
        self.v = np.asarray(v, dtype=np.float64).reshape(-1)
        self.k = np.asarray(k, dtype=np.float64).reshape(-1)
        self.b = np.full(G, 0.1) if b is None else np.asarray(b, dtype=np.float64).reshape(-1)
        for name in ("v", "k", "b"):
            if getattr(self, name).size != G:
                raise ValueError(f"{name} must have one entry per gene ({G})")
        act = self.weight > 0
        self._act = act
        has_act = np.zeros(G, dtype=bool)
        has_act[self.target[act]] = True
        if np.any(self.b[has_act] <= 0):
            raise ValueError("basal activity b must be positive for genes with activators")
        self._has_act = has_act
        # one-hot scatter matrices edge -> target gene
        self._scatter_act = np.zeros((int(act.sum()), G))
        self._scatter_act[np.arange(int(act.sum())), self.target[act]] = 1.0
        self._scatter_rep = np.zeros((int((~act).sum()), G))
        self._scatter_rep[np.arange(int((~act).sum())), self.target[~act]] = 1.0
        self._act_den = self.b + self.weight[act] @ self._scatter_act

    # ------------------------------------------------------------------ dynamics
    def _index(self, gene: str | int) -> int:
        if isinstance(gene, str):
            try:
                return self.var_names.index(gene)
            except ValueError:
                raise KeyError(f"unknown gene {gene!r}") from None
        idx = int(gene)
        if not -self.n_genes <= idx < self.n_genes:
            raise IndexError(f"gene index {idx} out of range for {self.n_genes} genes")
        return idx % self.n_genes

    def production(self, x: np.ndarray) -> np.ndarray:
        """Return the regulatory activity :math:`P(x)` (between 0 and 1) per gene.

        Parameters
        ----------
        x
            States, shape ``(..., G)``.

        Returns
        -------
        Array of the same shape as ``x``.

        Examples
        --------
        >>> from sparsenode.datasets import HillODE
        >>> ode = HillODE(["a", "b"], source=[0], target=[1], weight=[1.0], K=[1.0], n=[2], v=[1, 1], k=[1, 1])
        >>> ode.production([[1.0, 0.0]]).round(3).tolist()
        [[1.0, 0.545]]
        """
        x = np.asarray(x, dtype=np.float64)
        xs = np.clip(x[..., self.source], 0.0, None)
        kn = self.K**self.n
        xn = xs**self.n
        h_on = xn / (kn + xn)
        act = self._act
        num = self.b + (h_on[..., act] * self.weight[act]) @ self._scatter_act
        p_act = np.where(self._has_act, num / self._act_den, 1.0)
        h_off = np.clip(1.0 - h_on[..., ~act], 1e-300, None)
        p_rep = np.exp(np.log(h_off) @ self._scatter_rep)
        return p_act * p_rep

    def rhs(self, x: np.ndarray) -> np.ndarray:
        """Time derivative :math:`dx/dt` for one state or a batch of states.

        Parameters
        ----------
        x
            States, shape ``(G,)`` or ``(..., G)``.

        Returns
        -------
        Array of the same shape as ``x``.

        Examples
        --------
        >>> from sparsenode.datasets import HillODE
        >>> ode = HillODE(["a"], source=[], target=[], weight=[], K=[], n=[], v=[2.0], k=[1.0])
        >>> ode.rhs([[0.0], [2.0]]).tolist()
        [[2.0], [0.0]]
        """
        x = np.asarray(x, dtype=np.float64)
        return self.v * self.production(x) - self.k * x

    def simulate(
        self,
        x0: Sequence[float] | np.ndarray,
        t: Sequence[float] | np.ndarray,
        *,
        clamp: Mapping[str | int, float] | None = None,
        method: str = "LSODA",
        rtol: float = 1e-6,
        atol: float = 1e-9,
    ) -> np.ndarray:
        """Integrate the system, optionally holding some genes fixed (knockout / overexpression).

        Parameters
        ----------
        x0
            Initial state ``(G,)``, or a batch ``(B, G)`` integrated together.
        t
            Increasing output times; integration starts at ``t[0]`` from ``x0``.
        clamp
            ``{gene name or index: value}``: those genes are set to ``value`` at all times (their derivative is zero).
            A value of 0 is a knockout, a high value an overexpression.
        method, rtol, atol
            Passed to :func:`scipy.integrate.solve_ivp`.

        Returns
        -------
        States at ``t``: ``(len(t), G)``, or ``(B, len(t), G)`` for a batch of initial states.

        Examples
        --------
        >>> import numpy as np
        >>> from sparsenode.datasets import HillODE
        >>> ode = HillODE(["a", "b"], source=[0], target=[1], weight=[1.0], K=[0.5], n=[2], v=[1, 1], k=[1, 1])
        >>> wt = ode.simulate([1.0, 0.0], np.linspace(0, 20, 3))
        >>> ko = ode.simulate([1.0, 0.0], np.linspace(0, 20, 3), clamp={"a": 0.0})
        >>> bool(wt[-1, 1] > 0.5), float(ko[-1, 0]), bool(ko[-1, 1] < 0.1)
        (True, 0.0, True)
        """
        x0 = np.asarray(x0, dtype=np.float64)
        single = x0.ndim == 1
        x0 = np.atleast_2d(x0).copy()
        if x0.ndim != 2 or x0.shape[1] != self.n_genes:
            raise ValueError(f"x0 must have shape (G,) or (B, G) with G={self.n_genes}, got {x0.shape}")
        t = np.asarray(t, dtype=np.float64).reshape(-1)
        if t.size == 0:
            raise ValueError("t must hold at least one time point")
        if np.any(np.diff(t) < 0):
            raise ValueError("t must be non-decreasing")
        idx = np.array([self._index(g) for g in (clamp or {})], dtype=np.int64)
        vals = np.array([float(val) for val in (clamp or {}).values()], dtype=np.float64)
        if idx.size != np.unique(idx).size:
            raise ValueError("a gene is clamped twice")
        x0[:, idx] = vals
        B, G = x0.shape

        def fun(_t: float, y: np.ndarray) -> np.ndarray:
            state = y.reshape(B, G).copy()
            state[:, idx] = vals
            dx = self.rhs(state)
            dx[:, idx] = 0.0
            return dx.reshape(-1)

        if t[-1] > t[0]:
            sol = solve_ivp(fun, (t[0], t[-1]), x0.reshape(-1), method=method, t_eval=t, rtol=rtol, atol=atol)
            if not sol.success:
                raise RuntimeError(f"ODE integration failed: {sol.message}")
            out = sol.y.T.reshape(t.size, B, G).transpose(1, 0, 2).copy()
        else:
            out = np.repeat(x0[:, None, :], t.size, axis=1)
        out[:, :, idx] = vals
        return out[0] if single else out

    def steady_state(
        self, x0: Sequence[float] | np.ndarray, *, clamp: Mapping[str | int, float] | None = None, t_max: float = 200.0
    ) -> np.ndarray:
        """State reached from ``x0`` after a long integration (the attractor of ``x0``).

        Parameters
        ----------
        x0
            Initial state ``(G,)`` or ``(B, G)``.
        clamp
            As in :meth:`simulate`.
        t_max
            Integration time.

        Returns
        -------
        Array shaped like ``x0``.

        Examples
        --------
        >>> from sparsenode.datasets import HillODE
        >>> ode = HillODE(["a"], source=[], target=[], weight=[], K=[], n=[], v=[3.0], k=[1.5])
        >>> ode.steady_state([0.0]).round(6).tolist()
        [2.0]
        """
        out = self.simulate(x0, [0.0, t_max], clamp=clamp)
        return out[..., -1, :]

    # ------------------------------------------------------------------ network / io
    def network(self) -> pd.DataFrame:
        """Return the true regulatory network.

        Returns
        -------
        DataFrame with columns ``source``, ``target`` (gene names), ``sign`` (``+1``/``-1``) and ``weight``.

        Examples
        --------
        >>> from sparsenode.datasets import HillODE
        >>> ode = HillODE(["a", "b"], source=[0], target=[1], weight=[-0.5], K=[1.0], n=[2], v=[1, 1], k=[1, 1])
        >>> ode.network().to_dict("records")
        [{'source': 'a', 'target': 'b', 'sign': -1, 'weight': -0.5}]
        """
        names = np.asarray(self.var_names, dtype=object)
        return pd.DataFrame(
            {
                "source": names[self.source].astype(str) if self.source.size else np.array([], dtype=str),
                "target": names[self.target].astype(str) if self.target.size else np.array([], dtype=str),
                "sign": np.sign(self.weight).astype(np.int64),
                "weight": self.weight.copy(),
            }
        ).astype({"source": object, "target": object})

    def adjacency(self) -> np.ndarray:
        """Signed adjacency matrix ``A[source, target]`` (``+1``, ``-1`` or 0).

        Returns
        -------
        ``(G, G)`` int array.

        Examples
        --------
        >>> from sparsenode.datasets import HillODE
        >>> ode = HillODE(["a", "b"], source=[0], target=[1], weight=[-0.5], K=[1.0], n=[2], v=[1, 1], k=[1, 1])
        >>> ode.adjacency().tolist()
        [[0, -1], [0, 0]]
        """
        A = np.zeros((self.n_genes, self.n_genes), dtype=np.int64)
        A[self.source, self.target] = np.sign(self.weight).astype(np.int64)
        return A

    def to_dict(self) -> dict[str, Any]:
        """Plain arrays describing the system, safe to store in ``adata.uns`` and write to h5ad.

        Returns
        -------
        dict of NumPy arrays (and the string ``"kind"``).

        Examples
        --------
        >>> from sparsenode.datasets import HillODE
        >>> ode = HillODE(["a", "b"], source=[0], target=[1], weight=[-0.5], K=[1.0], n=[2], v=[1, 1], k=[1, 1])
        >>> sorted(ode.to_dict())
        ['K', 'b', 'k', 'kind', 'n', 'source', 'target', 'v', 'var_names', 'weight']
        """
        return {
            "kind": "HillODE",
            "var_names": np.asarray(self.var_names, dtype=str),
            "source": self.source.copy(),
            "target": self.target.copy(),
            "weight": self.weight.copy(),
            "K": self.K.copy(),
            "n": self.n.copy(),
            "v": self.v.copy(),
            "k": self.k.copy(),
            "b": self.b.copy(),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> HillODE:
        """Rebuild a system from :meth:`to_dict` output (also after an h5ad round trip).

        Parameters
        ----------
        d
            Mapping as written by :meth:`to_dict`.

        Returns
        -------
        :class:`HillODE`

        Examples
        --------
        >>> import numpy as np
        >>> from sparsenode.datasets import HillODE
        >>> ode = HillODE(["a", "b"], source=[0], target=[1], weight=[-0.5], K=[1.0], n=[2], v=[1, 1], k=[1, 1])
        >>> copy = HillODE.from_dict(ode.to_dict())
        >>> bool(np.allclose(copy.rhs([0.3, 0.2]), ode.rhs([0.3, 0.2])))
        True
        """
        kind = d.get("kind", "HillODE")
        if str(kind) != "HillODE":
            raise ValueError(f"cannot rebuild a HillODE from a {kind!r} description")
        missing = [key for key in ("var_names", "source", "target", "weight", "K", "n", "v", "k", "b") if key not in d]
        if missing:
            raise KeyError(f"ODE description lacks {missing}")
        return cls(
            [str(g) for g in np.asarray(d["var_names"]).reshape(-1)],
            source=np.asarray(d["source"]),
            target=np.asarray(d["target"]),
            weight=np.asarray(d["weight"]),
            K=np.asarray(d["K"]),
            n=np.asarray(d["n"]),
            v=np.asarray(d["v"]),
            k=np.asarray(d["k"]),
            b=np.asarray(d["b"]),
        )

    def __repr__(self) -> str:
        n_act = int(self._act.sum())
        n_rep = self.source.size - n_act
        return f"HillODE({self.n_genes} genes, {self.source.size} edges: {n_act} activating, {n_rep} repressing)"


# ---------------------------------------------------------------------- random branching system
def _random_branching_ode(n_genes: int, edges_per_gene: int, rng: np.random.Generator) -> tuple[HillODE, np.ndarray]:
    """Draw a toggle switch g0 ⟂ g1 and a random sparse signed network downstream of it.

    Returns the system and, per edge, a random factor that scales the edge's threshold relative to the regulator's
    typical expression (see :func:`_calibrate_thresholds`).
    """
    names = [f"g{i}" for i in range(n_genes)]
    v = np.ones(n_genes)
    k = np.ones(n_genes)
    b = np.full(n_genes, 0.1)
    # toggle switch: g0 and g1 repress each other steeply (bistable, saddle at x0 = x1 = 0.5)
    src, tgt, w, factor, n = [0, 1], [1, 0], [-1.0, -1.0], [1.0, 1.0], [4.0, 4.0]
    k[2:] = rng.uniform(0.5, 1.5, n_genes - 2)
    v[2:] = k[2:] * rng.uniform(0.7, 2.0, n_genes - 2)  # maximal level v/k in [0.7, 2]
    b[2:] = rng.uniform(0.02, 0.2, n_genes - 2)
    order = 2 + rng.permutation(n_genes - 2)
    placed = [0, 1]
    for gene in order:
        n_reg = int(rng.integers(1, edges_per_gene + 1))
        # regulators among genes already wired to the switch: every gene is reachable from g0/g1 and the network
        # downstream of the switch is acyclic, so thresholds can be calibrated layer by layer
        regs = [int(g) for g in rng.choice(placed, size=min(n_reg, len(placed)), replace=False)]
        for reg in regs:
            sign = 1.0 if rng.random() < 0.6 else -1.0
            src.append(reg)
            tgt.append(int(gene))
            w.append(sign * rng.uniform(0.5, 1.5))
            factor.append(rng.uniform(0.7, 1.3))
            n.append(float(rng.integers(2, 5)))
        placed.append(int(gene))
    factor_arr = np.asarray(factor)
    xmax = v / k
    K = 0.5 * xmax[np.asarray(src)] * factor_arr
    K[:2] = 0.5
    return HillODE(names, source=src, target=tgt, weight=w, K=K, n=n, v=v, k=k, b=b), factor_arr


def _lineage_initial_states(ode: HillODE, bias: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Shared progenitor state (switch held at its saddle) plus per-lineage nudges that pick the fate.

    ``bias[l]`` is added to g0 and subtracted from g1; ``scale[l]`` multiplies the other genes' initial levels.
    """
    saddle = 0.5
    progenitor = ode.steady_state(np.full(ode.n_genes, saddle), clamp={0: saddle, 1: saddle}, t_max=50.0)
    x0 = np.repeat(progenitor[None, :], bias.size, axis=0)
    x0[:, 0] += bias
    x0[:, 1] -= bias
    x0[:, 2:] *= scale
    return np.clip(x0, 0.0, None)


def _calibrate_thresholds(
    ode: HillODE, factor: np.ndarray, bias: np.ndarray, scale: np.ndarray, t_max: float, n_rounds: int = 30
) -> tuple[HillODE, np.ndarray]:
    """Set every downstream edge's threshold K to (factor ×) the midpoint of its regulator's simulated range.

    Thresholds in the middle of what a regulator actually does keep the Hill functions responsive, so changes
    propagate down the network instead of saturating. A few rounds, since thresholds change the trajectories.
    """
    downstream = ode.target >= 2
    for _ in range(n_rounds):
        x0 = _lineage_initial_states(ode, bias, scale)
        traj = ode.simulate(x0, np.linspace(0.0, t_max, 41))
        mid = 0.5 * (traj.min(axis=(0, 1)) + traj.max(axis=(0, 1)))
        K = ode.K.copy()
        K[downstream] = np.maximum(mid[ode.source[downstream]], 0.02) * factor[downstream]
        change = np.max(np.abs(K - ode.K) / ode.K)
        params = ode.to_dict()
        params["K"] = K
        ode = HillODE.from_dict(params)
        if change < 0.01:
            break
    return ode, _lineage_initial_states(ode, bias, scale)


def toy_grn(
    n_genes: int = 10,
    n_cells: int = 1000,
    *,
    n_lineages: int = 2,
    edges_per_gene: int = 2,
    noise: float = 0.05,
    t_max: float = 10.0,
    seed: int = 0,
) -> AnnData:
    """Simulate cells along a branching trajectory of a random sparse gene-regulatory ODE with known truth.

    Genes ``g0`` and ``g1`` form a toggle switch (mutual repression) that splits a common progenitor state into two
    fates. The other genes are wired in random order, each to 1 … ``edges_per_gene`` regulators (about 60 %
    activating, 40 % repressing) drawn among the genes wired before it, so every gene is reachable from ``g0``/``g1``
    and the network downstream of the switch is acyclic. The dynamics are a :class:`HillODE` with degradation rates
    in ``[0.5, 1.5]``, maximal levels ``v/k`` in ``[0.7, 2]`` and Hill coefficients 2 … 4; each edge's threshold
    ``K`` is set to (0.7 … 1.3 ×) the midpoint of its regulator's simulated range, so that signals propagate
    through the network instead of saturating. All lineages start from the
    progenitor steady state with the switch held at its saddle; lineage 0 is nudged towards ``g0``, lineage 1 towards
    ``g1``, further lineages get random nudges and perturbed initial states. Each lineage is simulated over
    ``[0, t_max]`` and sampled at uniformly random times; Gaussian noise with sd ``noise`` × the gene's range is added
    and values are clipped at 0.

    Parameters
    ----------
    n_genes
        Number of genes (at least 3).
    n_cells
        Total number of cells; each lineage gets ``n_cells // n_lineages`` and the first ``n_cells % n_lineages``
        lineages one more.
    n_lineages
        Number of lineages (at least 1).
    edges_per_gene
        Maximal number of regulators of a gene outside the switch (at least 1).
    noise
        Measurement noise, as a fraction of each gene's range.
    t_max
        End of the simulated time span.
    seed
        Seed of :func:`numpy.random.default_rng`; equal seeds give equal data.

    Returns
    -------
    :class:`~anndata.AnnData` (float32 ``X``, cells × genes ``g0, g1, …``; cells grouped by lineage and sorted by
    time) with

    - ``obs["time"]``: true simulation time; ``obs["lineage"]``: categorical ``'lineage_0'``, …;
    - ``uns["true_network"]``: DataFrame ``source``, ``target``, ``sign``, ``weight`` (the truth for GRN scoring);
    - ``uns["ode"]``: :meth:`HillODE.to_dict` of the system (rebuild with :meth:`HillODE.from_dict`);
    - ``uns["lineage_x0"]``: ``(n_lineages, n_genes)`` true initial states;
    - ``uns["params"]``: the arguments of the call.

    Examples
    --------
    >>> import sparsenode as sn
    >>> adata = sn.datasets.toy_grn(n_genes=10, n_cells=200, seed=1)
    >>> adata.shape
    (200, 10)
    >>> adata.obs["lineage"].cat.categories.tolist()
    ['lineage_0', 'lineage_1']
    >>> ode = sn.datasets.HillODE.from_dict(adata.uns["ode"])
    >>> ode.n_genes
    10
    """
    if n_genes < 3:
        raise ValueError(f"n_genes must be at least 3 (g0, g1 form the switch), got {n_genes}")
    if n_lineages < 1:
        raise ValueError(f"n_lineages must be at least 1, got {n_lineages}")
    if n_cells < n_lineages:
        raise ValueError(f"n_cells ({n_cells}) must be at least n_lineages ({n_lineages})")
    if edges_per_gene < 1:
        raise ValueError(f"edges_per_gene must be at least 1, got {edges_per_gene}")
    if noise < 0:
        raise ValueError(f"noise must be non-negative, got {noise}")
    if t_max <= 0:
        raise ValueError(f"t_max must be positive, got {t_max}")
    rng = np.random.default_rng(seed)
    ode, factor = _random_branching_ode(n_genes, edges_per_gene, rng)
    # lineage 0 leans to g0, lineage 1 to g1, further lineages get random nudges and initial levels
    bias = np.zeros(n_lineages)
    scale = np.ones((n_lineages, n_genes - 2))
    bias[0] = 0.05
    if n_lineages > 1:
        bias[1] = -0.05
    for lin in range(2, n_lineages):
        bias[lin] = rng.choice([-1.0, 1.0]) * rng.uniform(0.01, 0.15)
        scale[lin] = rng.uniform(0.5, 1.5, n_genes - 2)
    ode, x0 = _calibrate_thresholds(ode, factor, bias, scale, t_max)

    sizes = np.full(n_lineages, n_cells // n_lineages)
    sizes[: n_cells % n_lineages] += 1
    times = [np.sort(rng.uniform(0.0, t_max, int(m))) for m in sizes]
    blocks = []
    for lin in range(n_lineages):
        grid = np.concatenate([[0.0], times[lin]])  # integrate from 0 even if no cell sits there
        blocks.append(ode.simulate(x0[lin], grid)[1:])
    clean = np.concatenate(blocks, axis=0)
    span = clean.max(axis=0) - clean.min(axis=0)
    X = clean + rng.normal(size=clean.shape) * (noise * span)
    X = np.clip(X, 0.0, None).astype(np.float32)

    lineage_names = [f"lineage_{i}" for i in range(n_lineages)]
    obs = pd.DataFrame(
        {
            _keys.TIME: np.concatenate(times),
            _keys.LINEAGE: pd.Categorical(np.repeat(lineage_names, sizes), categories=lineage_names),
        },
        index=pd.Index([f"cell_{i}" for i in range(n_cells)]),
    )
    adata = AnnData(X=X, obs=obs, var=pd.DataFrame(index=pd.Index(ode.var_names)))
    adata.uns[_keys.TRUE_NETWORK] = ode.network()
    adata.uns[ODE_KEY] = ode.to_dict()
    adata.uns[LINEAGE_X0_KEY] = x0
    adata.uns[_keys.PARAMS] = {
        "n_genes": int(n_genes),
        "n_cells": int(n_cells),
        "n_lineages": int(n_lineages),
        "edges_per_gene": int(edges_per_gene),
        "noise": float(noise),
        "t_max": float(t_max),
        "seed": int(seed),
    }
    return adata


def toy_perturbation_truth(
    adata: AnnData,
    genes: str | Iterable[str],
    *,
    mode: str = "knockout",
    value: float | Sequence[float] | None = None,
    t: Sequence[float] | np.ndarray | None = None,
) -> dict[str, Any]:
    """Simulate the true wild-type and perturbed trajectories of a :func:`toy_grn` data set.

    Rebuilds the :class:`HillODE` from ``adata.uns["ode"]`` and integrates it from every lineage's true initial state
    (``adata.uns["lineage_x0"]``), once unperturbed and once with ``genes`` clamped.

    Parameters
    ----------
    adata
        Output of :func:`toy_grn` (or any AnnData with ``uns["ode"]`` and ``uns["lineage_x0"]``).
    genes
        Gene name or names to perturb together.
    mode
        ``"knockout"`` (clamp to 0) or ``"overexpression"`` (clamp to a high value).
    value
        Clamp value, one for all genes or one per gene. Default: 0 for knockouts, twice the gene's maximal wild-type
        expression (over lineages and times) for overexpression.
    t
        Time grid. Default: 50 points over ``[0, uns["params"]["t_max"]]`` (or over the span of ``obs["time"]``).

    Returns
    -------
    dict with ``times`` ``(T,)``, ``wildtype`` and ``perturbed`` ``(L, T, G)``, ``lineages`` (names), ``var_names``,
    ``genes`` and ``values`` (the clamp applied).

    Examples
    --------
    >>> from sparsenode.datasets import toy_grn
    >>> from sparsenode.datasets._toy import toy_perturbation_truth
    >>> adata = toy_grn(n_genes=8, n_cells=100, seed=0)
    >>> truth = toy_perturbation_truth(adata, "g2")
    >>> truth["wildtype"].shape, truth["perturbed"].shape
    ((2, 50, 8), (2, 50, 8))
    >>> float(abs(truth["perturbed"][..., 2]).max())
    0.0
    """
    if ODE_KEY not in adata.uns or LINEAGE_X0_KEY not in adata.uns:
        raise KeyError(f"adata.uns needs {ODE_KEY!r} and {LINEAGE_X0_KEY!r}; simulate it with sn.datasets.toy_grn")
    if mode not in _PERTURBATION_MODES:
        raise ValueError(f"mode must be one of {_PERTURBATION_MODES}, got {mode!r}")
    ode = HillODE.from_dict(adata.uns[ODE_KEY])
    x0 = np.asarray(adata.uns[LINEAGE_X0_KEY], dtype=np.float64).reshape(-1, ode.n_genes)
    gene_list = [genes] if isinstance(genes, str) else [str(g) for g in genes]
    if not gene_list:
        raise ValueError("give at least one gene to perturb")
    unknown = [g for g in gene_list if g not in ode.var_names]
    if unknown:
        raise KeyError(f"genes {unknown} are not in the system ({ode.var_names})")
    if t is None:
        params = adata.uns.get(_keys.PARAMS, {})
        if "t_max" in params:
            t0, t1 = 0.0, float(params["t_max"])
        elif _keys.TIME in adata.obs:
            t0, t1 = float(adata.obs[_keys.TIME].min()), float(adata.obs[_keys.TIME].max())
        else:
            raise ValueError("cannot infer the time span; pass t")
        times = np.linspace(t0, t1, 50)
    else:
        times = np.asarray(t, dtype=np.float64).reshape(-1)
    wildtype = ode.simulate(x0, times)
    idx = [ode.var_names.index(g) for g in gene_list]
    if value is None:
        values = np.zeros(len(idx)) if mode == "knockout" else 2.0 * wildtype[..., idx].max(axis=(0, 1))
    else:
        values = np.broadcast_to(np.asarray(value, dtype=np.float64), (len(idx),)).copy()
    perturbed = ode.simulate(x0, times, clamp=dict(zip(gene_list, values.tolist(), strict=True)))
    if LINEAGE_X0_KEY in adata.uns and _keys.LINEAGE in adata.obs and hasattr(adata.obs[_keys.LINEAGE], "cat"):
        lineages = [str(c) for c in adata.obs[_keys.LINEAGE].cat.categories]
    else:
        lineages = [f"lineage_{i}" for i in range(x0.shape[0])]
    if len(lineages) != x0.shape[0]:
        lineages = [f"lineage_{i}" for i in range(x0.shape[0])]
    return {
        "times": times,
        "wildtype": wildtype,
        "perturbed": perturbed,
        "lineages": np.asarray(lineages, dtype=str),
        "var_names": np.asarray(ode.var_names, dtype=str),
        "genes": np.asarray(gene_list, dtype=str),
        "values": values,
    }
