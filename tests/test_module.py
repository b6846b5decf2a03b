import numpy as np
import pytest
import torch
from scipy.linalg import expm

from sparsenode.module import (
    ClampedField,
    GroupedMLPField,
    MLPField,
    deterministic_gates,
    get_method,
    jacobian,
    prob_nonzero,
    sample_gates,
)
from sparsenode.train import solve


def test_gates_deterministic_in_eval_and_zero_when_closed():
    la = torch.tensor([-10.0, 0.0, 10.0])
    z = deterministic_gates(la)
    assert z[0] == 0 and z[2] == 1 and 0 < z[1] < 1
    assert torch.equal(deterministic_gates(la), z)
    s = sample_gates(la.expand(1000, 3))
    assert (s >= 0).all() and (s <= 1).all()
    assert s[:, 0].mean() < 0.05 and s[:, 2].mean() > 0.95
    assert torch.all(prob_nonzero(la)[1:] > prob_nonzero(la)[:1])


def test_gates_sampled_once_per_solve():
    f = MLPField(3, (8,), gates="weight", seed=0)
    f.train()
    f.prepare(sample=True)
    x = torch.rand(1, 4, 3)
    a = f(torch.tensor(0.0), x)
    b = f(torch.tensor(0.0), x)
    assert torch.equal(a, b), "the field must not change inside one solve"
    f.prepare(sample=True)
    c = f(torch.tensor(0.0), x)
    assert not torch.equal(a, c)


@pytest.mark.parametrize("kind", ["mlp", "grouped"])
def test_field_shapes_and_members_independent(kind):
    cls = MLPField if kind == "mlp" else GroupedMLPField
    f = cls(5, (7,), n_members=3, seed=1)
    x = torch.rand(3, 4, 5)
    out = f(torch.tensor(0.0), x)
    assert out.shape == (3, 4, 5)
    # changing member 0's input does not change member 1's output
    x2 = x.clone()
    x2[0] += 1.0
    out2 = f(torch.tensor(0.0), x2)
    assert torch.allclose(out[1:], out2[1:])


def test_jacobian_matches_finite_differences():
    torch.manual_seed(0)
    f = MLPField(4, (6, 6), activation="tanh", n_members=2, seed=3).double()
    x = torch.rand(2, 5, 4, dtype=torch.float64)
    jac = jacobian(f, x)
    eps = 1e-6
    for j in range(4):
        dx = torch.zeros_like(x)
        dx[..., j] = eps
        fd = (f(0, x + dx) - f(0, x - dx)) / (2 * eps)
        assert torch.allclose(jac[..., :, j], fd, atol=1e-6)


def test_grouped_field_output_only_depends_on_its_own_mlp():
    f = GroupedMLPField(4, (5,), seed=0)
    with torch.no_grad():
        f.first[:, 2] = 0.0  # output 2 sees no input
    x = torch.rand(1, 3, 4)
    jac = jacobian(f, x)
    off = jac[..., 2, :].clone()
    off[..., 2] = 0  # decay acts on the diagonal only
    assert torch.allclose(off, torch.zeros_like(off))


@pytest.mark.parametrize("solver", ["dopri5", "rk4", "euler"])
def test_linear_ode_solution(solver):
    a = torch.tensor([[-1.0, 0.5], [0.0, -0.3]], dtype=torch.float64)

    class Linear(torch.nn.Module):
        def forward(self, t, y):
            return y @ a.T

    y0 = torch.tensor([[1.0, 2.0]], dtype=torch.float64)
    t = torch.linspace(0, 2, 11, dtype=torch.float64)
    out = solve(Linear(), y0, t, solver=solver, rtol=1e-8, atol=1e-10, step_size=0.01 if solver != "dopri5" else None)
    exact = np.stack([expm(a.numpy() * ti) @ y0[0].numpy() for ti in t.numpy()])
    tol = 5e-2 if solver == "euler" else 1e-5
    np.testing.assert_allclose(out[:, 0].numpy(), exact, atol=tol)


def test_clamped_field_holds_value_and_derivative():
    f = MLPField(3, (8,), seed=0)
    mask = torch.tensor([0.0, 1.0, 0.0])
    vals = torch.tensor([0.0, 0.7, 0.0])
    c = ClampedField(f, mask, vals)
    y0 = c.clamp(torch.rand(1, 2, 3))
    out = solve(c, y0, torch.linspace(0, 1, 5))
    assert torch.allclose(out[..., 1], torch.full_like(out[..., 1], 0.7))


def test_pathreg_adjacency_counts_paths_and_penalty_is_differentiable():
    m = get_method("pathreg")
    f = MLPField(3, (4, 4), gates="weight", seed=0)
    with torch.no_grad():
        f.log_alpha[0][:, :, 1] = -20.0  # input 1 cut off from every hidden unit
    adj = m.adjacency(f)[0]  # (outputs, inputs)
    assert torch.all(adj[:, 1] == 0) and torch.all(adj[:, 0] > 0)
    pen = m.penalty(f, m.lambdas).sum()
    pen.backward()
    assert f.log_alpha[0].grad is not None and torch.isfinite(f.log_alpha[0].grad).all()


def test_unit_gates_select_inputs_globally():
    f = MLPField(4, (5, 5), gates="unit", seed=0)
    adj = get_method("pathreg").adjacency(f)[0]
    # every output has the same pattern of inputs (rank one up to scale)
    assert torch.linalg.matrix_rank(adj) == 1


def test_group_lasso_prox_zeroes_small_groups():
    m = get_method("grouplasso")
    f = GroupedMLPField(3, (4,), seed=0)
    m.prox(f, 100.0, m.lambdas)
    assert torch.all(f.group_norms() == 0)


def test_hier_prox_keeps_hierarchy():
    m = get_method("lassonet_inner")
    f = MLPField(3, (6,), skip="inner", seed=0)
    with torch.no_grad():
        f.skip.normal_()
    m.prox(f, 0.01, m.lambdas)
    s_norm = f.skip.norm(dim=2)[0]
    w_inf = f.weights[0].abs().amax(dim=1)[0]
    assert torch.all(w_inf <= m.lambdas["rho"] * s_norm + 1e-5)


def test_outer_skip_ignores_masked_sources():
    mask = torch.tensor([1.0, 0.0, 1.0])
    field = MLPField(3, hidden=(4,), skip="outer", input_mask=mask)
    with torch.no_grad():
        field.skip.fill_(0.5)
    z = torch.rand(1, 2, 3)
    moved = z.clone()
    moved[..., 1] += 1.0  # only the masked gene changes
    delta = field.apply_outer_skip(moved) - field.apply_outer_skip(z)
    # the masked gene keeps its own identity term, but drives no output through S
    assert torch.allclose(delta, torch.tensor([0.0, 1.0, 0.0]).expand_as(delta))
