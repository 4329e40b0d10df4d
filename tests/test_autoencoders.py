"""Autoencoders (chapter 10): penalties, corruptions, the linear autoencoder and PCA, against
torch autograd (float64) and central finite differences (nnref.gradcheck)."""

import warnings

import numpy as np
import pytest
import torch

from nnref import autoencoders as AE
from nnref import optim
from nnref.gradcheck import numerical_gradient, numerical_gradients, relative_error

torch.set_default_dtype(torch.float64)
TORCH = {"sigmoid": torch.sigmoid, "tanh": torch.tanh}


@pytest.mark.parametrize("kind", ["l1", "l2"])
def test_sparse_penalty_against_torch(kind):
    h = np.random.default_rng(0).standard_normal((6, 9))
    t = torch.tensor(h, requires_grad=True)
    value = (t.abs().sum() if kind == "l1" else (t**2).sum()) / 6
    (0.7 * value).backward()
    penalty, cache = AE.sparse_forward(h, 0.7, kind)
    assert penalty == pytest.approx(0.7 * value.item(), rel=1e-14)
    np.testing.assert_allclose(AE.sparse_backward(1.0, cache), t.grad.numpy(), rtol=1e-14)
    assert AE.sparse_penalty_grad(np.zeros((1, 2)), "l1").tolist() == [[0.0, 0.0]]


@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
def test_contractive_penalty_is_the_squared_jacobian_norm(activation):
    rng = np.random.default_rng(1)
    X, W, b = rng.standard_normal((5, 4)), rng.standard_normal((4, 3)), rng.standard_normal(3)
    f = lambda x: TORCH[activation](x @ torch.tensor(W) + torch.tensor(b))
    jac = [torch.autograd.functional.jacobian(f, torch.tensor(x)).numpy() for x in X]
    np.testing.assert_allclose(AE.encoder_jacobian(X, W, b, activation), np.array(jac), rtol=1e-12, atol=1e-15)
    expected = np.mean([np.sum(J**2) for J in jac])
    assert AE.contractive_penalty(X, W, b, activation) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
def test_contractive_gradients_against_torch_and_finite_differences(activation):
    rng = np.random.default_rng(2)
    X, W, b = rng.standard_normal((6, 5)), rng.standard_normal((5, 3)), rng.standard_normal(3)
    tX, tW, tb = (torch.tensor(v, requires_grad=True) for v in (X, W, b))
    h = TORCH[activation](tX @ tW + tb)
    s = h * (1 - h) if activation == "sigmoid" else 1 - h**2
    (0.3 * ((s**2) @ (tW**2).sum(dim=0)).sum() / 6).backward()
    value, cache = AE.contractive_forward(X, W, b, 0.3, activation)
    for got, t in zip(AE.contractive_backward(1.0, cache), (tX, tW, tb)):
        np.testing.assert_allclose(got, t.grad.numpy(), rtol=1e-11, atol=1e-14)
    params = {"X": X, "W": W, "b": b}
    numeric = numerical_gradients(lambda p: AE.contractive_penalty(p["X"], p["W"], p["b"], activation), params)
    for got, name in zip(AE.contractive_penalty_grads(X, W, b, activation), "XWb"):
        assert relative_error(got, numeric[name]) < 1e-8


def test_contractive_penalty_is_stable_at_large_z():
    W = np.array([[1000.0, -1000.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for activation in ["sigmoid", "tanh"]:
            assert AE.contractive_penalty(np.ones((1, 1)), W, np.zeros(2), activation) == pytest.approx(0.0, abs=1e-300)
            assert all(np.all(np.isfinite(g)) for g in AE.contractive_penalty_grads(np.ones((1, 1)), W, np.zeros(2), activation))
    with pytest.raises(ValueError):
        AE.contractive_penalty(np.ones((1, 1)), W, np.zeros(2), "relu")


def test_corruptions_with_given_masks():
    X = np.arange(1.0, 7.0).reshape(2, 3) / 10
    noisy, keep = AE.gaussian_corruption(X, 0.5, noise=np.ones((2, 3)))
    np.testing.assert_allclose(noisy, X + 0.5)
    mask = np.array([[1, 0, 1], [0, 1, 1]])
    masked, keep = AE.masking_corruption(X, 0.3, mask=mask)
    np.testing.assert_array_equal(masked, X * mask)
    np.testing.assert_array_equal(AE.corruption_backward(np.ones((2, 3)), keep), mask)
    u = np.array([[0.05, 0.15, 0.5], [0.09, 0.11, 0.2]])
    sp, keep = AE.salt_and_pepper_corruption(X, 0.2, u=u)
    np.testing.assert_array_equal(sp, [[0.0, 1.0, 0.3], [0.0, 1.0, 0.6]])
    np.testing.assert_array_equal(keep, [[0, 0, 1], [0, 0, 1]])


def test_corruption_rates_from_a_generator():
    X = np.full((200, 50), 0.5)
    rng = np.random.default_rng(3)
    masked, _ = AE.masking_corruption(X, 0.25, rng)
    assert np.mean(masked == 0) == pytest.approx(0.25, abs=0.01)
    sp, _ = AE.salt_and_pepper_corruption(X, 0.2, rng)
    assert np.mean(sp == 0) == pytest.approx(0.1, abs=0.01) and np.mean(sp == 1) == pytest.approx(0.1, abs=0.01)
    noisy, _ = AE.gaussian_corruption(X, 0.1, rng)
    assert np.std(noisy - X) == pytest.approx(0.1, rel=0.02)


def test_linear_ae_against_torch():
    rng = np.random.default_rng(4)
    X, We, Wd = rng.standard_normal((8, 5)), rng.standard_normal((5, 2)), rng.standard_normal((2, 5))
    tWe, tWd = torch.tensor(We, requires_grad=True), torch.tensor(Wd, requires_grad=True)
    loss_t = ((torch.tensor(X) @ tWe @ tWd - torch.tensor(X)) ** 2).sum() / 8
    loss_t.backward()
    loss, dWe, dWd = AE.linear_ae_loss_and_grads(X, We, Wd)
    assert loss == pytest.approx(loss_t.item(), rel=1e-13)
    np.testing.assert_allclose(dWe, tWe.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(dWd, tWd.grad.numpy(), rtol=1e-12)
    _, cache = AE.linear_ae_forward(X, We, Wd)
    dX = AE.linear_ae_backward(np.ones((8, 5)), cache)[0]
    assert relative_error(dX, numerical_gradient(lambda x: np.sum(x @ We @ Wd), X.copy())) < 1e-8


def test_linear_ae_spans_the_pca_subspace():
    """Baldi & Hornik (1989): the trained decoder spans the principal subspace, in another basis."""
    rng = np.random.default_rng(5)
    scales = [3.0, 2.5, 1.0, 0.8, 0.7, 0.6]
    X = AE.mixed_data(rng.standard_normal((300, 6)), rng.standard_normal((6, 6)), scales)
    W_enc, W_dec = AE.fit_linear_ae(X, 2, steps=2000)
    P = AE.row_space_projector(W_dec)
    np.testing.assert_allclose(P, AE.pca_projector(X, 2), atol=1e-8)
    assert np.max(AE.principal_angles(W_dec, AE.pca_basis(X, 2))) < 1e-7
    assert abs(np.dot(W_dec[0], W_dec[1])) > 1e-3          # not the orthonormal PCA basis itself
    np.testing.assert_allclose(P @ P, P, atol=1e-12)


def test_projector_does_not_depend_on_the_basis():
    rng = np.random.default_rng(6)
    W, A = rng.standard_normal((3, 7)), rng.standard_normal((3, 3))
    np.testing.assert_allclose(AE.row_space_projector(A @ W), AE.row_space_projector(W), atol=1e-12)
    assert AE.principal_angles(W, A @ W).max() < 1e-7


def test_autoencoder_gradients_by_finite_differences():
    rng = np.random.default_rng(7)
    X = rng.uniform(0, 1, (6, 5))
    X_in = AE.masking_corruption(X, 0.3, rng)[0]
    ae = AE.Autoencoder([5, 4, 2], activation="tanh", seed=1)
    loss, grads = ae.loss_and_grads(X_in, X, lam=0.1, kind="l2")
    numeric = numerical_gradients(lambda p: ae.loss_and_grads(X_in, X, lam=0.1, kind="l2")[0], ae.params)
    for name in ae.params:
        assert relative_error(grads[name], numeric[name]) < 1e-7, name


def test_training_reduces_the_reconstruction_error():
    rng = np.random.default_rng(8)
    X = rng.uniform(0, 1, (40, 6))
    ae = AE.Autoencoder([6, 3], seed=0)
    history = AE.train_autoencoder(ae, X, optim.Adam(0.01), 200,
                                   corrupt=lambda x, r: AE.gaussian_corruption(x, 0.1, r)[0])
    assert history[-1] < 0.5 * history[0]
    assert AE.reconstruction_errors(ae, X).shape == (40,)


def test_contractive_autoencoder_objective_by_finite_differences():
    rng = np.random.default_rng(9)
    X = rng.uniform(0, 1, (5, 4))
    ae = AE.Autoencoder([4, 3], code="sigmoid", seed=2)
    extra = AE.contractive_extra_grads(0.5)

    def objective(p):
        return ae.loss_and_grads(X, X)[0] + extra(ae, X)[0]

    loss, grads = ae.loss_and_grads(X, X)
    penalty, more = extra(ae, X)
    assert penalty == pytest.approx(0.5 * AE.contractive_penalty(X, ae.params["enc_W1"], ae.params["enc_b1"]))
    total = {k: g + more.get(k, 0.0) for k, g in grads.items()}
    numeric = numerical_gradients(objective, ae.params)
    for name in ae.params:
        assert relative_error(total[name], numeric[name]) < 1e-7, name


def test_mini_batch_training_with_a_penalty():
    rng = np.random.default_rng(10)
    X = rng.uniform(0, 1, (60, 6))
    ae = AE.Autoencoder([6, 4], code="sigmoid", seed=0)
    history = AE.train_autoencoder(ae, X, optim.Adam(0.01), 30, batch_size=16,
                                   extra_grads=AE.contractive_extra_grads(0.1))
    assert len(history) == 30 and history[-1] < history[0]
