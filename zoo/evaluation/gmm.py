"""A Gaussian mixture with full covariances, fitted by EM in float64 (k-means++ start, seeded): the ``gmm``
sampler's density on a model's training codes (Ghosh et al.'s ex-post density for the RAE)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, Optional

import torch


@dataclass
class GaussianMixture:
    """``weights`` (K,), ``means`` (K, D), ``covariances`` (K, D, D); ``log_likelihood``: mean per code at the fit."""

    weights: torch.Tensor
    means: torch.Tensor
    covariances: torch.Tensor
    log_likelihood: float = math.nan

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """log p(x) of each row of ``x`` (N, D)."""
        return torch.logsumexp(_component_log_probs(x.double(), self.means, self.covariances) + self.weights.log(), dim=1)

    def sample(self, n: int, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """``n`` draws (n, D), float32, from ``generator`` (a CPU generator; the mixture lives on the CPU)."""
        pick = torch.multinomial(self.weights.float(), n, replacement=True, generator=generator)
        eps = torch.randn(n, self.means.shape[1], generator=generator, dtype=torch.float64)
        tril = torch.linalg.cholesky(self.covariances)
        return (self.means[pick] + (tril[pick] @ eps.unsqueeze(-1)).squeeze(-1)).float()

    def tensors(self) -> Dict[str, torch.Tensor]:
        return {"weights": self.weights.contiguous(), "means": self.means.contiguous(),
                "covariances": self.covariances.contiguous()}


def mixture_problem(tensors: Dict[str, torch.Tensor], latent_dim: int) -> Optional[str]:
    """Why ``tensors`` are not a mixture over ``latent_dim``-d codes (None when they are one): the shapes, every
    number finite, the weights a probability vector, each covariance symmetric and positive definite."""
    w, mu, cov = tensors["weights"], tensors["means"], tensors["covariances"]
    if not all(t.is_floating_point() for t in (w, mu, cov)):
        return "its tensors are not floating point"
    if w.dim() != 1 or len(w) < 1:
        return f"weights has shape {tuple(w.shape)}, not (K,)"
    k = len(w)
    if tuple(mu.shape) != (k, latent_dim):
        return f"means has shape {tuple(mu.shape)}, not ({k}, {latent_dim}) for {k} weights and {latent_dim}-d codes"
    if tuple(cov.shape) != (k, latent_dim, latent_dim):
        return f"covariances has shape {tuple(cov.shape)}, not ({k}, {latent_dim}, {latent_dim})"
    for name, t in (("weights", w), ("means", mu), ("covariances", cov)):
        if not torch.isfinite(t).all():
            return f"{name} holds NaN or infinite values"
    if (w < 0).any() or abs(float(w.double().sum()) - 1.0) > 1e-6:
        return "weights are not a probability vector (non-negative, summing to 1)"
    c = cov.double()
    if not torch.allclose(c, c.transpose(1, 2), rtol=1e-8, atol=1e-10):
        return "a covariance is not symmetric"
    if (torch.linalg.cholesky_ex(c).info != 0).any():
        return "a covariance is not positive definite"
    return None


def _component_log_probs(x: torch.Tensor, means: torch.Tensor, covariances: torch.Tensor) -> torch.Tensor:
    """(N, K): log N(x_n; mu_k, Sigma_k) through each covariance's Cholesky factor."""
    tril = torch.linalg.cholesky(covariances)  # (K, D, D)
    diff = x.unsqueeze(0) - means.unsqueeze(1)  # (K, N, D)
    solved = torch.linalg.solve_triangular(tril, diff.transpose(1, 2), upper=False)  # (K, D, N)
    maha = solved.pow(2).sum(dim=1)  # (K, N)
    log_det = 2 * torch.diagonal(tril, dim1=1, dim2=2).log().sum(dim=1)  # (K,)
    d = x.shape[1]
    return (-0.5 * (maha + log_det.unsqueeze(1) + d * math.log(2 * math.pi))).T


def _kmeans_pp(x: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
    centres = [x[torch.randint(len(x), (1,), generator=generator)].squeeze(0)]
    for _ in range(1, k):
        d2 = torch.cdist(x, torch.stack(centres)).pow(2).min(dim=1).values
        centres.append(x[torch.multinomial(d2.float() / d2.sum().float(), 1, generator=generator)].squeeze(0))
    return torch.stack(centres)


def fit_gaussian_mixture(codes: torch.Tensor, components: int = 10, *, seed: int = 0, iterations: int = 100,
                         tol: float = 1e-3, reg: float = 1e-6) -> GaussianMixture:
    """EM on ``codes`` (N, D) from a k-means++ start (10 Lloyd steps), until the mean log-likelihood gains less
    than ``tol`` or ``iterations`` ran (scikit-learn's defaults); ``reg`` is added to each covariance's diagonal
    (scaled by the codes' mean variance)."""
    x = codes.detach().double().cpu()
    n, d = x.shape
    if n < components:
        raise ValueError(f"a mixture of {components} components needs at least {components} codes, got {n}")
    g = torch.Generator().manual_seed(seed)
    means = _kmeans_pp(x, components, g)
    for _ in range(10):
        assign = torch.cdist(x, means).argmin(dim=1)
        means = torch.stack([x[assign == j].mean(0) if (assign == j).any() else means[j] for j in range(components)])
    eye = torch.eye(d, dtype=torch.float64) * reg * x.var(dim=0).mean().clamp_min(1e-12)
    resp = torch.nn.functional.one_hot(torch.cdist(x, means).argmin(dim=1), components).double()
    previous = -math.inf
    mixture = None
    for _ in range(iterations):
        nk = resp.sum(0).clamp_min(1e-10)  # M step
        weights = nk / n
        means = (resp.T @ x) / nk.unsqueeze(1)
        covariances = torch.stack([((x - means[j]) * resp[:, j:j + 1]).T @ (x - means[j]) / nk[j]
                                   for j in range(components)]) + eye
        log_joint = _component_log_probs(x, means, covariances) + weights.log()  # E step
        log_px = torch.logsumexp(log_joint, dim=1)
        resp = (log_joint - log_px.unsqueeze(1)).exp()
        mixture = GaussianMixture(weights, means, covariances, float(log_px.mean()))
        if mixture.log_likelihood - previous < tol:
            break
        previous = mixture.log_likelihood
    return mixture
