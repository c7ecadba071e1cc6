"""Code-agreement metrics for data without a factor grid (MNIST): pure functions of arrays.

- :func:`categorical_agreement`: how well the argmax of a categorical latent (JointVAE's
  discrete code) matches the class labels, up to a relabelling of the code values:
  normalised mutual information NMI = I(c; y) / mean(H(c), H(y)) (arithmetic mean, scikit-learn's
  ``normalized_mutual_info_score`` default), and the accuracy of the best one-to-one map from
  code values to labels (Hungarian algorithm on the contingency table,
  ``scipy.optimize.linear_sum_assignment``; code values left unmatched count as errors).
- :func:`active_dims`: a latent dimension is active when its KL to the prior, averaged over the
  data, exceeds a threshold (0.01 nats by default). Burda et al. 2016 (arXiv 1509.00519) use
  the same 0.01 cut-off on a different activity statistic, Cov_x(E_q(z|x)[z_j]); the KL form
  is the one JointVAE-style capacity objectives (and the reference study) log per dimension.
"""

from __future__ import annotations

import numpy as np


def _int_vector(name: str, a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim != 1 or not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"{name} must be a 1-D int array, got shape {a.shape} dtype {a.dtype}")
    return a


def categorical_agreement(code_argmax: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """NMI and best one-to-one mapping accuracy between code values int [n] and labels int [n]."""
    from scipy.optimize import linear_sum_assignment
    from sklearn.metrics import normalized_mutual_info_score

    code = _int_vector("code_argmax", code_argmax)
    y = _int_vector("labels", labels)
    if len(code) != len(y) or len(y) == 0:
        raise ValueError(f"code_argmax and labels must have the same non-zero length, got {len(code)} and {len(y)}")
    code_values, code_idx = np.unique(code, return_inverse=True)
    label_values, label_idx = np.unique(y, return_inverse=True)
    table = np.zeros((len(code_values), len(label_values)), dtype=np.int64)  # contingency [codes, labels]
    np.add.at(table, (code_idx, label_idx), 1)
    rows, cols = linear_sum_assignment(table, maximize=True)  # one-to-one, max total agreement
    return {
        "nmi": float(normalized_mutual_info_score(y, code)),
        "best_map_accuracy": float(table[rows, cols].sum() / len(y)),
    }


def active_dims(kl_per_dim: np.ndarray, threshold: float = 0.01, logvar: np.ndarray | None = None) -> dict[str, object]:
    """Active dimensions of per-example, per-dimension KLs [n, d] (nats).

    Returns ``{"active": number of dims with mean KL > threshold, "mean_kl_per_dim": [d] floats}``
    and, given the posterior's log-variances ``logvar`` [n, d], the posterior's scale:
    ``"mean_sigma_active"``, the mean over examples and active dimensions of sigma = exp(logvar / 2)
    (None without an active dimension), and ``"mean_sigma_per_dim"`` [d]. Willetts et al. (ICLR
    2021) point out that latent attack objectives are confounded by this scale across beta.
    """
    kl = np.asarray(kl_per_dim, dtype=np.float64)
    if kl.ndim != 2 or kl.shape[0] == 0:
        raise ValueError(f"kl_per_dim must be [n, d] with n >= 1, got shape {kl.shape}")
    if not np.all(np.isfinite(kl)):
        raise ValueError("kl_per_dim contains NaN or inf")
    mean = kl.mean(axis=0)  # [d]
    out: dict[str, object] = {"active": int(np.sum(mean > threshold)), "mean_kl_per_dim": [float(m) for m in mean]}
    if logvar is not None:
        lv = np.asarray(logvar, dtype=np.float64)
        if lv.shape != kl.shape or not np.all(np.isfinite(lv)):
            raise ValueError(f"logvar must be finite with the KLs' shape {kl.shape}, got {lv.shape}")
        sigma = np.exp(lv / 2).mean(axis=0)  # [d]
        act = mean > threshold
        out["mean_sigma_per_dim"] = [float(v) for v in sigma]
        out["mean_sigma_active"] = float(sigma[act].mean()) if act.any() else None
    return out
