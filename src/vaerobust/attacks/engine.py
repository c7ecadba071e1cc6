"""The optimisation loop shared by the attacks: start, step, project, stop early, restart.

An attack that subclasses :class:`LossAttack` states only its per-example loss

    L_b(x_adv) = lam * ||x_adv_b - x_s_b||_2 + D_b(x_adv_b)         [B]

and what it precomputes from the targets (:meth:`LossAttack.target`, a "context" indexable
along the batch: a tensor, a Posterior, or a tuple of them). The loop below minimises
sum_b L_b, which leaves each pair's optimisation independent of the others (Adam and the
signed step are elementwise), then projects onto the threat model after every step
(:func:`vaerobust.attacks.base.project`).

Settings (AttackConfig):
- ``optimizer``: ``adam`` (torch.optim.Adam, ``lr``; the thesis) or ``sign``: the signed
  gradient step x <- x - lr * sign(grad L) of PGD (Madry et al. 2018, arXiv 1706.06083).
- ``restarts``: R runs; run 0 starts from the given noise, run r >= 1 from noise drawn by a
  generator seeded from (that example's given noise, r), so results stay independent of the
  batching. Per example the run with the lowest final loss (evaluated once more at its
  x_adv, B encoder passes per run) is kept; ties keep the earlier run, so R runs are never
  worse than run 0 alone.
- ``early_stop``: from step 1 on (step 0 is evaluated at the unprojected start), an example's
  best loss must fall by more than ``min_delta * |best|``; after ``patience`` steps without
  that, it leaves the batch (the active batch, its optimiser state and its context shrink;
  no further encoder passes for it) and its x_adv is frozen at its best point. This costs one
  device-to-host sync per step. With ``early_stop=False`` the loop is the thesis's loop.
- ``start``: ``source`` starts from x_0 = clip(x_s + noise_std * noise, 0, 1); ``twice_source``
  from clip(x_s + (x_s + noise_std * noise), 0, 1), as the thesis author's script did (it added
  a sample of N(x_s, noise_std^2) to x_s, PROTOCOL §9).
- ``zero_grad``: true zeroes x_adv's gradient before each backward pass; false never does (the
  author's script): each step then follows the running sum of every gradient so far. With
  early stopping the examples that stay keep their sums.
- ``width`` (continuous batching, with early stopping; :func:`stream`): at most ``width``
  examples are optimised at once; as examples stop, the batch is refilled from the rest of the
  call's examples (their targets computed as they join), so the batch stays full instead of
  waiting for its slowest example. Each example keeps its own optimiser state
  (:class:`RowAdam`: Adam with a step count per example), so its trajectory is the one early
  stopping gives it up to rounding: the batch's composition changes the convolutions'
  summation order, and RowAdam rounds its update differently from torch's Adam. In float64
  the results agree to 1e-9 (tested); in float32 a stopping threshold can turn that rounding
  into another stop step for an example whose loss sits on the threshold, so sweeps agree in
  their rates (measured: README), not bit for bit.
- ``record_trace``: the per-example loss of every step [steps, B] is kept on the device (an
  example that stopped early holds its best loss); the attack reports its batch mean.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import Tensor

from vaerobust.attacks.base import Attack, project
from vaerobust.config import AttackConfig
from vaerobust.models.latents import Posterior

LossFn = Callable[[Tensor, Tensor, Any], Tensor]  # (x_adv [B, ...], x_src [B, ...], context) -> loss [B]


def take(ctx: Any, idx: Tensor) -> Any:
    """The rows ``idx`` of a batch-indexable context (tensor, Posterior, tuple/list of them, None)."""
    if ctx is None:
        return None
    if isinstance(ctx, Tensor):
        return ctx[idx]
    if isinstance(ctx, Posterior):
        return Posterior(ctx.mean[idx], ctx.logvar[idx], [lg[idx] for lg in ctx.logits])
    if isinstance(ctx, (tuple, list)):
        return type(ctx)(take(c, idx) for c in ctx)
    raise TypeError(f"attack context of type {type(ctx).__name__}: expected a Tensor, Posterior, tuple or list")


def noise_seed(noise: Tensor, salt: int = 0) -> int:
    """A 64-bit seed from the bytes of ``noise`` and ``salt`` (same noise -> same seed)."""
    data = noise.detach().to("cpu", torch.float32).contiguous().numpy().tobytes()
    return int.from_bytes(hashlib.blake2b(data + salt.to_bytes(8, "little"), digest_size=8).digest(), "little")


def restart_noise(noise: Tensor, restart: int) -> Tensor:
    """Fresh standard-normal noise [B, ...] for run ``restart``; row b from a generator seeded by (noise[b], restart)."""
    rows = [
        torch.randn(noise.shape[1:], generator=torch.Generator().manual_seed(noise_seed(n, restart)), dtype=noise.dtype)
        for n in noise
    ]
    return torch.stack(rows).to(noise.device)


class SignedGradient(torch.optim.Optimizer):
    """x <- x - lr * sign(grad): the L-inf steepest-descent step of PGD (arXiv 1706.06083)."""

    def __init__(self, params: Any, lr: float) -> None:
        super().__init__(params, {"lr": lr})

    @torch.no_grad()
    def step(self, closure: None = None) -> None:  # type: ignore[override]
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.add_(p.grad.sign(), alpha=-group["lr"])


def make_optimiser(x: Tensor, cfg: AttackConfig) -> torch.optim.Optimizer:
    return torch.optim.Adam([x], lr=cfg.lr) if cfg.optimizer == "adam" else SignedGradient([x], lr=cfg.lr)


def shrink_optimiser(opt: torch.optim.Optimizer, old: Tensor, new: Tensor, keep: Tensor, cfg: AttackConfig) -> torch.optim.Optimizer:
    """An optimiser for ``new = old[keep]`` carrying on from ``opt``'s per-element state (Adam's moments, step)."""
    fresh = make_optimiser(new, cfg)
    state = opt.state.get(old, {})
    if state:
        fresh.state[new] = {
            k: (v[keep].clone() if v.dim() > 0 and v.shape[0] == old.shape[0] else v.clone()) if isinstance(v, Tensor) else v
            for k, v in state.items()
        }
    return fresh


@dataclass
class Run:
    """One attack result: x_adv [B, ...], its loss [B] where known, the loss per step [steps, B] if recorded."""

    x_adv: Tensor
    loss: Tensor | None
    trace: Tensor | None


def start_point(x_src: Tensor, noise: Tensor, cfg: AttackConfig) -> Tensor:
    """x_0 = clip(x_s + noise_std * noise, 0, 1), or with ``start=twice_source`` clip(2 x_s + noise_std * noise)."""
    with torch.no_grad():
        x = x_src + cfg.noise_std * noise
        if cfg.start == "twice_source":  # the author's x_s + a sample of N(x_s, noise_std^2), in that order
            x = x_src + x
        return x.clamp(0.0, 1.0)


def descend(loss_fn: LossFn, x_src: Tensor, ctx: Any, noise: Tensor, cfg: AttackConfig) -> Run:
    """One run from x_0 = clip(x_s + noise_std * noise, 0, 1) (``start``): ``steps`` steps, each followed by the projection."""
    batch = x_src.shape[0]
    x = start_point(x_src, noise, cfg)
    trace = x.new_empty(cfg.steps, batch) if cfg.record_trace else None
    if cfg.steps == 0:
        return Run(project(x, x_src, cfg), None, trace)
    if cfg.early_stop:
        return _descend_early_stop(loss_fn, x_src, ctx, x, cfg, trace)
    x.requires_grad_(True)
    opt = make_optimiser(x, cfg)
    for k in range(cfg.steps):
        losses = loss_fn(x, x_src, ctx)
        loss = losses.sum()
        if cfg.zero_grad:
            opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            x.copy_(project(x, x_src, cfg))
        if trace is not None:
            trace[k] = losses.detach()
    return Run(x.detach(), None, trace)


def _descend_early_stop(loss_fn: LossFn, x_src: Tensor, ctx: Any, start: Tensor, cfg: AttackConfig, trace: Tensor | None) -> Run:
    """:func:`descend` with examples leaving the batch once stale for ``patience`` steps."""
    batch, steps = x_src.shape[0], cfg.steps
    out = start.clone()  # x_adv [B, ...], filled as examples leave
    stop_step = torch.full((batch,), steps, dtype=torch.long, device=start.device)
    held = torch.zeros(batch, dtype=start.dtype, device=start.device)  # best loss of the stopped examples
    active = torch.arange(batch, device=start.device)  # rows of the full batch still being optimised
    best_loss = torch.full((batch,), float("inf"), dtype=start.dtype, device=start.device)
    best_x = project(start, x_src, cfg)
    stale = torch.zeros(batch, dtype=torch.long, device=start.device)
    x = start.requires_grad_(True)
    opt = make_optimiser(x, cfg)
    xs, cx = x_src, ctx
    for k in range(steps):
        losses = loss_fn(x, xs, cx)
        if trace is not None:
            trace[k, active] = losses.detach()
        if k > 0:  # x_k (k >= 1) is projected, so a feasible candidate
            with torch.no_grad():
                cur = losses.detach()
                better = (cur < best_loss - cfg.min_delta * best_loss.abs()) | torch.isinf(best_loss)
                best_loss = torch.where(better, cur, best_loss)
                best_x = torch.where(better.view(-1, *[1] * (x.dim() - 1)), x.detach(), best_x)
                stale = torch.where(better, torch.zeros_like(stale), stale + 1)
        if cfg.zero_grad:
            opt.zero_grad(set_to_none=True)
        losses.sum().backward()
        opt.step()
        with torch.no_grad():
            x.copy_(project(x, xs, cfg))
        done = stale >= cfg.patience
        if not bool(done.any()):  # the one host sync per step
            continue
        with torch.no_grad():
            gone = active[done]
            out[gone] = best_x[done]
            stop_step[gone] = k
            held[gone] = best_loss[done]
        keep = (~done).nonzero().squeeze(1)
        active = active[keep]
        if active.numel() == 0:
            break
        new = x.detach()[keep].clone().requires_grad_(True)
        if not cfg.zero_grad and x.grad is not None:  # the running sums of those that stay
            new.grad = x.grad[keep].clone()
        opt = shrink_optimiser(opt, x, new, keep, cfg)
        x, xs, cx = new, xs[keep], take(cx, keep)
        best_loss, best_x, stale = best_loss[keep], best_x[keep], stale[keep]
    if active.numel() > 0:  # those that ran every step end where the fixed run would
        with torch.no_grad():
            out[active] = x.detach()
    if trace is not None:  # a stopped example holds its best loss from the step after it stopped
        after = torch.arange(steps, device=start.device).view(-1, 1) > stop_step.view(1, -1)
        trace = torch.where(after, held.view(1, -1), trace)
    return Run(out, None, trace)


class RowAdam:
    """Adam (Kingma & Ba 2015, torch.optim.Adam's defaults) with its moments and step count kept per
    example (row), so that rows can join and leave the batch at any step: row i's update is the one
    a torch Adam over that row alone would make (up to rounding of the per-row bias corrections)."""

    def __init__(self, lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> None:
        self.lr, (self.b1, self.b2), self.eps = lr, betas, eps
        self.m: Tensor | None = None
        self.v: Tensor | None = None
        self.t: Tensor | None = None  # steps taken per row (int64)

    def add(self, like: Tensor) -> None:
        """Append rows of zero state, shaped like ``like`` [n, ...]."""
        zeros, t = torch.zeros_like(like), torch.zeros(like.shape[0], dtype=torch.int64, device=like.device)
        if self.m is None:
            self.m, self.v, self.t = zeros, zeros.clone(), t
        else:
            self.m, self.v, self.t = torch.cat([self.m, zeros]), torch.cat([self.v, zeros.clone()]), torch.cat([self.t, t])

    def keep(self, rows: Tensor) -> None:
        assert self.m is not None and self.v is not None and self.t is not None
        self.m, self.v, self.t = self.m[rows], self.v[rows], self.t[rows]

    @torch.no_grad()
    def step(self, x: Tensor, grad: Tensor) -> Tensor:
        """x after one step on ``grad`` (both [n, ...]); the state advances."""
        assert self.m is not None and self.v is not None and self.t is not None
        self.m.lerp_(grad, 1 - self.b1)
        self.v.mul_(self.b2).addcmul_(grad, grad, value=1 - self.b2)
        self.t += 1
        t = self.t.to(torch.float64)
        shape = (-1, *[1] * (x.dim() - 1))
        step_size = (self.lr / (1 - self.b1 ** t)).to(x.dtype).view(shape)
        bc2_sqrt = torch.sqrt(1 - self.b2 ** t).to(x.dtype).view(shape)
        denom = (self.v.sqrt() / bc2_sqrt).add_(self.eps)
        return x - step_size * self.m / denom


def _join(a: Any, b: Any) -> Any:
    """Rows of batch-indexable context ``b`` appended to ``a`` (the counterpart of :func:`take`)."""
    if a is None:
        return b
    if isinstance(a, Tensor):
        return torch.cat([a, b])
    if isinstance(a, Posterior):
        return Posterior(torch.cat([a.mean, b.mean]), torch.cat([a.logvar, b.logvar]),
                         [torch.cat([x, y]) for x, y in zip(a.logits, b.logits)])
    if isinstance(a, (tuple, list)):
        return type(a)(_join(x, y) for x, y in zip(a, b))
    raise TypeError(f"attack context of type {type(a).__name__}: expected a Tensor, Posterior, tuple or list")


def stream(loss_fn: LossFn, target_fn: Callable[[Tensor, Tensor], Any], x_src: Tensor, x_tgt: Tensor,
           noise: Tensor, cfg: AttackConfig) -> Tensor:
    """Early stopping with continuous batching (``cfg.width``): x_adv [N, ...] for all N examples of
    the call, at most ``width`` optimised at once, the batch refilled as examples stop (see the
    module docstring). Each example's result is the one :func:`descend` gives it with early stopping."""
    n, width = x_src.shape[0], int(cfg.width or x_src.shape[0])
    dev, shape = x_src.device, (-1, *[1] * (x_src.dim() - 1))
    out = torch.empty_like(x_src)
    refill = max(1, width // 8)  # admit new examples once this many slots are free (efficiency only)
    nxt = 0
    idx = torch.empty(0, dtype=torch.long, device=dev)
    x = xs = best_x = gsum = x_src[:0]
    ctx: Any = None
    best_loss = x_src.new_empty(0)
    stale = k = torch.empty(0, dtype=torch.long, device=dev)
    opt = RowAdam(cfg.lr) if cfg.optimizer == "adam" else None
    while nxt < n or idx.numel():
        free = width - idx.numel()
        if nxt < n and (free >= refill or idx.numel() == 0):
            new = torch.arange(nxt, min(n, nxt + free), device=dev)
            nxt += new.numel()
            with torch.no_grad():
                ctx_new = target_fn(x_src[new], x_tgt[new])
            x0 = start_point(x_src[new], noise[new], cfg)
            idx, xs, ctx = torch.cat([idx, new]), torch.cat([xs, x_src[new]]), _join(ctx, ctx_new)
            x, best_x = torch.cat([x, x0]), torch.cat([best_x, project(x0, x_src[new], cfg)])
            best_loss = torch.cat([best_loss, torch.full((new.numel(),), float("inf"), dtype=x.dtype, device=dev)])
            zeros = torch.zeros(new.numel(), dtype=torch.long, device=dev)
            stale, k, gsum = torch.cat([stale, zeros]), torch.cat([k, zeros]), torch.cat([gsum, torch.zeros_like(x0)])
            if opt is not None:
                opt.add(x0)
        xl = x.detach().requires_grad_(True)
        losses = loss_fn(xl, xs, ctx)
        with torch.no_grad():
            seen = k > 0  # x_k (k >= 1) is projected, so a feasible candidate
            cur = losses.detach()
            better = seen & ((cur < best_loss - cfg.min_delta * best_loss.abs()) | torch.isinf(best_loss))
            best_loss = torch.where(better, cur, best_loss)
            best_x = torch.where(better.view(shape), xl.detach(), best_x)
            stale = torch.where(better, torch.zeros_like(stale), stale + seen.long())
        (grad,) = torch.autograd.grad(losses.sum(), xl)
        with torch.no_grad():
            if not cfg.zero_grad:  # the running sum of every gradient so far
                gsum += grad
                grad = gsum
            x = opt.step(x, grad) if opt is not None else x - cfg.lr * grad.sign()
            x = project(x, xs, cfg)
            k = k + 1
            stopped = stale >= cfg.patience
            done = stopped | (k >= cfg.steps)
            n_done = int(done.sum())  # the one host sync per step
            if n_done == 0:
                continue
            order = torch.argsort(done.to(torch.uint8), stable=True)  # kept rows first, in their order
            keep, gone = order[: order.numel() - n_done], order[order.numel() - n_done:]
            out[idx[gone]] = torch.where(stopped[gone].view(shape), best_x[gone], x[gone])
            idx, x, xs, ctx = idx[keep], x[keep], xs[keep], take(ctx, keep)
            best_x, best_loss, stale, k, gsum = best_x[keep], best_loss[keep], stale[keep], k[keep], gsum[keep]
            if opt is not None:
                opt.keep(keep)
    return out


def minimise(loss_fn: LossFn, x_src: Tensor, ctx: Any, noise: Tensor, cfg: AttackConfig) -> Run:
    """``cfg.restarts`` runs of :func:`descend`; per example, the run with the lowest final loss."""
    best = descend(loss_fn, x_src, ctx, noise, cfg)
    if cfg.restarts == 1:
        return best
    with torch.no_grad():
        best.loss = loss_fn(best.x_adv, x_src, ctx)
    for r in range(1, cfg.restarts):
        run = descend(loss_fn, x_src, ctx, restart_noise(noise, r), cfg)
        with torch.no_grad():
            loss = loss_fn(run.x_adv, x_src, ctx)
            better = loss < best.loss  # ties keep the earlier run
            x_adv = torch.where(better.view(-1, *[1] * (x_src.dim() - 1)), run.x_adv, best.x_adv)
            trace = None if best.trace is None or run.trace is None else torch.where(better.view(1, -1), run.trace, best.trace)
            best = Run(x_adv, torch.where(better, loss, best.loss), trace)
    return best


class LossAttack(Attack):
    """An attack given by a per-example loss, minimised by :func:`minimise` under the threat model.

    Subclasses define :meth:`target` (computed once, without gradients, from x_src and x_tgt)
    and :meth:`loss`. With ``cfg.samples = S > 1``, :meth:`codes` gives S reparameterised
    draws of the code per example (Gaussian: mean + sigma * e; categorical: Concrete at
    temperature 0.67), stacked sample-major [S * B, code_size], and :meth:`per_example` averages
    a per-draw quantity [S * B] back to [B] (an expectation over the posterior, as in
    Athalye et al.'s EOT, arXiv 1707.07397). The draws come from a generator seeded from the
    start noise, so a call is reproducible.
    """

    def __init__(self, model: torch.nn.Module, cfg: AttackConfig, judge: torch.nn.Module | None = None) -> None:
        super().__init__(model, cfg, judge)
        self.sampler: torch.Generator | None = None

    def target(self, x_src: Tensor, x_tgt: Tensor) -> Any:
        """What the loss compares against, batch-indexable (see :func:`take`)."""
        raise NotImplementedError

    def loss(self, x_adv: Tensor, x_src: Tensor, ctx: Any) -> Tensor:
        """Per-example loss [B]."""
        raise NotImplementedError

    def codes(self, post: Posterior) -> Tensor:
        """Decoder inputs [S * B, code_size]: the mode (S = 1) or S reparameterised draws."""
        if self.cfg.samples == 1:
            return post.mode()
        return torch.cat([post.sample(generator=self.sampler) for _ in range(self.cfg.samples)])

    def per_example(self, v: Tensor) -> Tensor:
        """[S * B] (sample-major) -> [B]: the mean over the S draws."""
        return v.view(self.cfg.samples, -1).mean(0)

    def forward(self, x_src: Tensor, x_tgt: Tensor, noise: Tensor) -> Tensor:
        self.sampler = None
        if self.cfg.width is not None and self.cfg.early_stop and self.cfg.steps > 0:
            return stream(self.loss, self.target, x_src, x_tgt, noise, self.cfg)
        with torch.no_grad():
            ctx = self.target(x_src, x_tgt)
        if self.cfg.samples > 1:
            self.sampler = torch.Generator(device=x_src.device).manual_seed(noise_seed(noise, 2**63 - 1))
        run = minimise(self.loss, x_src, ctx, noise, self.cfg)
        if run.trace is not None:
            self.trace = run.trace.mean(1)
        return run.x_adv
