"""Prototype: gradient matching on smoothed binned trajectories, several readouts, BEELINE replicate subset."""
import sys, time
import numpy as np, pandas as pd, torch
import _common as c
import sparsenode as sn
from sparsenode.model import SparseNODE
from sparsenode.module import jacobian

c.one_thread()

def smooth_deriv(traj, sigma):
    v, m, t = traj.values.astype(np.float64), traj.mask, traj.times.astype(np.float64)
    xs, dxs, lin = [], [], []
    for li in range(traj.n_lineages):
        b = np.flatnonzero(m[li]); tb = t[b]; vb = v[li, b]
        if sigma > 0:
            dt = (t[1]-t[0]) * sigma
            w = np.exp(-0.5 * ((tb[:, None] - tb[None, :]) / dt) ** 2)
            # local linear regression smoother -> value and slope
            xs_l, d_l = [], []
            for i in range(len(b)):
                wi = w[i]; X = np.c_[np.ones_like(tb), tb - tb[i]]
                A = X.T @ (wi[:, None] * X); B = X.T @ (wi[:, None] * vb)
                coef = np.linalg.solve(A + 1e-9*np.eye(2), B)
                xs_l.append(coef[0]); d_l.append(coef[1])
            xs.append(np.array(xs_l)); dxs.append(np.array(d_l))
        else:
            xs.append(vb); dxs.append(np.gradient(vb, tb, axis=0))
        lin.append(np.full(len(b), li))
    return np.concatenate(xs), np.concatenate(dxs)

def fit_gm(names, x, dx, lam, epochs, members, seed, hidden=(32,32), lr=1e-2, method="pathreg"):
    lambdas = {"lambda_path": lam} if method == "pathreg" else None
    model = SparseNODE(names, method=method, hidden=hidden, lambdas=lambdas, n_members=members, seed=seed, device="cpu")
    f = model.field
    X = torch.tensor(x, dtype=torch.float32).unsqueeze(0).expand(members, -1, -1)
    D = torch.tensor(dx, dtype=torch.float32).unsqueeze(0)
    scale = D.pow(2).mean()
    params = list(f.parameters())
    gate = [p for n, p in f.named_parameters() if n.startswith("log_alpha")]
    rest = [p for n, p in f.named_parameters() if not n.startswith("log_alpha")]
    opt = torch.optim.Adam([{"params": rest}, {"params": gate, "lr": lr*10}], lr=lr)
    torch.manual_seed(seed)
    for ep in range(epochs):
        f.train(); opt.zero_grad()
        f.prepare(sample=True)
        pred = f(torch.zeros(()), X)
        f.release()
        mse = (pred - D).pow(2).mean(dim=(1, 2)) / scale
        pen = model.method.penalty(f, model.lambdas) if model.method.penalty else 0 * mse
        (mse + pen).sum().backward(); opt.step()
    f.eval(); f.prepare(sample=False)
    jac = jacobian(f, X)  # (E, B, out, in)
    f.release()
    meanJ = jac.mean(1).numpy().transpose(0, 2, 1)  # E, src, tgt
    absJ = jac.abs().mean(1).numpy().transpose(0, 2, 1)
    Dd = torch.tensor(dx, dtype=torch.float32)
    flux = (jac * Dd[None, :, None, :]).abs().mean(1).numpy().transpose(0, 2, 1)
    global FLUX; FLUX = flux
    adj = model.adjacency(members=True)
    return float(mse.mean()), meanJ, absJ, adj

def edges(mat, names):
    d = len(names); s, t = np.nonzero(~np.eye(d, dtype=bool))
    return pd.DataFrame({"source": np.array(names)[s], "target": np.array(names)[t], "weight": mat[s, t]})

def rankavg(*ms):
    from scipy.stats import rankdata
    return sum(rankdata(np.abs(m).ravel()).reshape(m.shape) for m in ms)

def run(nb, sigma, lam, epochs, members, reps, method="pathreg"):
    rows = []
    for name, r, inp, out in c.replicates(reps=reps):
        t0 = time.time()
        adata = sn.io.read_beeline(inp)
        traj = sn.pp.bin_trajectories(adata, time_key="time", lineage_key=c.LINEAGE_KEY, n_bins=nb)
        x, dx = smooth_deriv(traj, sigma)
        mse, mJ, aJ, adj = fit_gm(traj.var_names, x, dx, lam, epochs, members, seed=r, method=method)
        truth = adata.uns["true_network"]; genes = traj.var_names
        sc = lambda m: sn.bm.score(edges(m, genes), truth, genes=genes)["auprc_ratio"]
        res = {"dataset": name, "rep": r, "mse": mse,
               "absJ": sc(aJ.mean(0)), "meanJ": sc(np.abs(mJ.mean(0))), "struct": sc(adj.mean(0)),
               "absJ_rank": sc(rankavg(*aJ)), "struct*absJ": sc(adj.mean(0) * aJ.mean(0)), "flux": sc(FLUX.mean(0)), "sec": time.time() - t0}
        rows.append(res)
    df = pd.DataFrame(rows)
    g = df.groupby("dataset").median(numeric_only=True).round(2)
    print(nb, sigma, lam, epochs, members, method); print(g.to_string()); print("MEAN", g.mean().round(2).to_dict(), flush=True)

if __name__ == "__main__":
    for cfg in sys.argv[1:]:
        a = cfg.split(":")
        run(int(a[0]), float(a[1]), float(a[2]), int(a[3]), int(a[4]), [int(r) for r in a[5].split(",")], *(a[6:]))
