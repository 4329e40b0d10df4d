r"""Optimizers. One interface: ``opt.step(params, grads)`` updates the dict of arrays
``params`` in place from the dict ``grads`` (same keys); any state (velocities,
accumulators) is kept per parameter name.

Every optimizer that PyTorch also has reproduces ``torch.optim`` step for step in
float64, defaults included (``tests/test_optim.py`` proves it). Where a lecture writes
a rule differently from PyTorch, the lecture's form is a ``form="lecture"`` option or a
class of its own, and the docstring says where the two differ.

Notation (Vorontsov's lecture): :math:`g = \nabla \mathcal{L}_i(w)` is the gradient of the
current object's (or mini-batch's) loss, :math:`\eta` the learning rate, :math:`k` (or
:math:`t`) the number of the step, starting at 1; :math:`\odot`, :math:`\oslash`,
:math:`\sqrt{\cdot}` act element-wise.

Contents:

- steps: :class:`SGD` (PyTorch's, with momentum/Nesterov/weight decay),
  :class:`PolyakMomentum`, :class:`NAG` (Vorontsov's lecture's forms), :class:`Adagrad`,
  :class:`RMSprop`, :class:`Adadelta`, :class:`Adam`, :class:`AdamW`, :class:`NAdam`;
- the gradient: :func:`clip_grad_norm` (PyTorch's), :func:`clip_grad_norm_exact` and
  :func:`clip_by_norm` (the lecture's), :class:`GradientNoise`;
- the learning rate: :class:`ReduceOnPlateau`, :func:`step_decay`;
- stopping: :func:`weights_converged`, :func:`gradient_small`, :func:`loss_converged`,
  :class:`EarlyStopping`, and :func:`running_loss_estimate` (Vorontsov's lecture's estimate of Q);
- steps and trajectories for the graded notebook: :func:`momentum_step`,
  :func:`momentum_run`, :func:`nag_quadratic_run`, :func:`rmsprop_run`, :func:`adam_run`, :func:`adam_fit_mlp`;
- 2-D test functions for the pictures: :func:`rosenbrock`, :func:`beale`,
  :func:`saddle` (with ``_grad``) and :func:`descend`.
"""

import numpy as np

# --- the interface ----------------------------------------------------------------------


class Optimizer:
    r"""Base class: ``step`` applies :meth:`update` to every parameter in place.

    ``state[name]`` is a dict that the rule fills on its first call (velocities,
    accumulators, the step counter ``t``).
    """

    def __init__(self, eta):
        self.eta = eta
        self.state = {}

    def step(self, params, grads):
        """Update every ``params[name]`` in place from ``grads[name]``."""
        for name, g in grads.items():
            state = self.state.setdefault(name, {})
            self.update(params[name], np.asarray(g, dtype=np.float64), state)

    def update(self, w, g, state):
        raise NotImplementedError

    def lookahead(self, params):
        """The point where the next gradient is to be taken: ``params`` itself, except
        for :class:`NAG`, which looks ahead along its velocity."""
        return params


def _steps_taken(state):
    """Increase and return the step counter :math:`t = 1, 2, \\dots` of one parameter."""
    state["t"] = state.get("t", 0) + 1
    return state["t"]


# --- SGD and momentum -------------------------------------------------------------------


class SGD(Optimizer):
    r"""Gradient descent step :math:`w := w - \eta \nabla Q(w)` (the *Deep learning* lecture), with
    PyTorch's options (``torch.optim.SGD``; all defaults 0 give the plain step):

    .. math::
        g &:= g + \lambda w \quad (\text{weight decay: the gradient of }
              \tfrac{\lambda}{2}\|w\|^2)\\
        b &:= \mu b + (1 - \tau) g \quad (b := g \text{ on the first step})\\
        w &:= w - \eta\,(g + \mu b) \text{ if nesterov, else } w := w - \eta\, b.

    With ``dampening`` :math:`\tau = 0` this is Kitov's lecture's momentum
    :math:`\Delta w := \alpha \Delta w - \eta g,\ w := w + \Delta w` with
    :math:`\alpha = \mu`, :math:`\Delta w = -\eta b`. It is Polyak's heavy ball
    written as a sum, not an average: :class:`PolyakMomentum` with
    :math:`(\eta, \gamma)` makes exactly the same steps as
    ``SGD(eta * (1 - gamma), momentum=gamma)``, because its
    :math:`v = (1 - \gamma) b`. ``nesterov=True`` is :class:`NAG` written in the
    look-ahead variable (Sutskever et al., 2013), so it needs only the gradient at
    the current point.
    """

    def __init__(self, eta, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0):
        super().__init__(eta)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        self.momentum, self.dampening = momentum, dampening
        self.nesterov, self.weight_decay = nesterov, weight_decay

    def update(self, w, g, state):
        mu = self.momentum
        if self.weight_decay:
            g = g + self.weight_decay * w
        if mu:
            if "b" not in state:
                state["b"] = g.copy()
            else:
                state["b"] = mu * state["b"] + (1 - self.dampening) * g
            g = g + mu * state["b"] if self.nesterov else state["b"]
        w -= self.eta * g


class PolyakMomentum(Optimizer):
    r"""Momentum as Vorontsov's lecture writes it (Polyak, 1964): an exponential moving average
    of the gradients over :math:`\approx 1/(1-\gamma)` last steps,

    .. math:: v := \gamma v + (1 - \gamma) g, \qquad w := w - \eta v, \qquad v_0 = 0.

    Unrolled, :math:`v_t = (1 - \gamma)\sum_{s \le t} \gamma^{t-s} g_s`, while
    PyTorch's buffer is :math:`b_t = \sum_{s \le t} \gamma^{t-s} g_s`. Hence
    :math:`\eta v_t = \eta (1 - \gamma) b_t`: this is ``SGD(eta_torch, momentum=mu)``
    with :math:`\eta_{\text{torch}} = \eta (1 - \gamma)`, :math:`\mu = \gamma`.
    """

    def __init__(self, eta, gamma=0.9):
        super().__init__(eta)
        self.gamma = gamma

    def update(self, w, g, state):
        v = state.setdefault("v", np.zeros_like(w))
        v[...] = self.gamma * v + (1 - self.gamma) * g
        w -= self.eta * v


class NAG(Optimizer):
    r"""Nesterov's accelerated gradient as Vorontsov's lecture writes it (Nesterov, 1983):

    .. math::
        v := \gamma v + (1 - \gamma)\, \nabla \mathcal{L}_i(w - \eta \gamma v), \qquad
        w := w - \eta v.

    The gradient is taken at the look-ahead point :math:`u = w - \eta\gamma v`: get it
    from :meth:`lookahead`, compute the gradient there, then call ``step(params,
    grads_at_lookahead)``. In the variable :math:`u` the same method is
    ``SGD(eta * (1 - gamma), momentum=gamma, nesterov=True)`` fed with gradients at
    its own iterate (PyTorch's form); use that inside a loop that differentiates at
    the current weights, such as :func:`nnref.mlp.train`.
    """

    def __init__(self, eta, gamma=0.9):
        super().__init__(eta)
        self.gamma = gamma

    def lookahead(self, params):
        r"""The points :math:`w - \eta\gamma v` (copies) where the gradient is taken."""
        return {name: w - self.eta * self.gamma * self.state.get(name, {}).get("v", 0.0)
                for name, w in params.items()}

    def update(self, w, g, state):
        v = state.setdefault("v", np.zeros_like(w))
        v[...] = self.gamma * v + (1 - self.gamma) * g
        w -= self.eta * v


# --- adaptive steps ---------------------------------------------------------------------


class Adagrad(Optimizer):
    r"""Adagrad (Duchi et al., 2011; the *Deep learning* lecture), as ``torch.optim.Adagrad``:

    .. math::
        \eta_t = \frac{\eta}{1 + (t - 1)\,\delta}, \qquad
        G := G + g \odot g, \qquad
        w := w - \eta_t\, g \oslash (\sqrt{G} + \varepsilon),

    with :math:`G_0` = ``initial_accumulator_value``, :math:`\delta` = ``lr_decay``
    and PyTorch's defaults :math:`\eta = 10^{-2}`, :math:`\varepsilon = 10^{-10}`.
    The *Deep learning* lecture puts :math:`\varepsilon` under the root, :math:`\sqrt{G + \varepsilon}`:
    that is ``eps_inside_sqrt=True``.
    """

    def __init__(self, eta=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0,
                 eps=1e-10, eps_inside_sqrt=False):
        super().__init__(eta)
        self.lr_decay, self.weight_decay = lr_decay, weight_decay
        self.initial_accumulator_value, self.eps = initial_accumulator_value, eps
        self.eps_inside_sqrt = eps_inside_sqrt

    def update(self, w, g, state):
        t = _steps_taken(state)
        if self.weight_decay:
            g = g + self.weight_decay * w
        G = state.setdefault("G", np.full_like(w, self.initial_accumulator_value))
        G += g * g
        eta_t = self.eta / (1 + (t - 1) * self.lr_decay)
        w -= eta_t * g / _root(G, self.eps, self.eps_inside_sqrt)


def _root(G, eps, inside):
    r""":math:`\sqrt{G + \varepsilon}` if ``inside``, else :math:`\sqrt{G} + \varepsilon`."""
    return np.sqrt(G + eps) if inside else np.sqrt(G) + eps


class RMSprop(Optimizer):
    r"""RMSProp (Tieleman & Hinton, 2012; Vorontsov's lecture), as ``torch.optim.RMSprop``:

    .. math::
        G := \alpha G + (1 - \alpha)\, g \odot g, \qquad
        w := w - \eta\, g \oslash (\sqrt{G} + \varepsilon),

    a moving average of squared gradients over :math:`\approx 1/(1-\alpha)` steps;
    PyTorch's defaults :math:`\eta = 10^{-2}`, :math:`\alpha = 0.99`,
    :math:`\varepsilon = 10^{-8}`. Vorontsov's lecture and PyTorch put :math:`\varepsilon`
    outside the root; the *Deep learning* lecture writes :math:`\sqrt{G + \varepsilon}`
    (``eps_inside_sqrt=True``). PyTorch's options: ``centered`` divides by the
    estimated standard deviation :math:`\sqrt{G - \bar g^2}` with
    :math:`\bar g := \alpha \bar g + (1-\alpha) g`; ``momentum`` :math:`\mu` keeps
    :math:`b := \mu b + g \oslash (\sqrt{G} + \varepsilon)` and steps :math:`w := w - \eta b`.
    """

    def __init__(self, eta=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                 centered=False, eps_inside_sqrt=False):
        super().__init__(eta)
        self.alpha, self.eps, self.weight_decay = alpha, eps, weight_decay
        self.momentum, self.centered, self.eps_inside_sqrt = momentum, centered, eps_inside_sqrt

    def update(self, w, g, state):
        alpha = self.alpha
        if self.weight_decay:
            g = g + self.weight_decay * w
        G = state.setdefault("G", np.zeros_like(w))
        G[...] = alpha * G + (1 - alpha) * g * g
        if self.centered:
            g_bar = state.setdefault("g_bar", np.zeros_like(w))
            g_bar[...] = alpha * g_bar + (1 - alpha) * g
            denominator = _root(G - g_bar * g_bar, self.eps, self.eps_inside_sqrt)
        else:
            denominator = _root(G, self.eps, self.eps_inside_sqrt)
        if self.momentum:
            b = state.setdefault("b", np.zeros_like(w))
            b[...] = self.momentum * b + g / denominator
            w -= self.eta * b
        else:
            w -= self.eta * g / denominator


class Adadelta(Optimizer):
    r"""AdaDelta (Zeiler, 2012), as ``torch.optim.Adadelta`` (``form="torch"``):

    .. math::
        G &:= \rho G + (1 - \rho)\, g \odot g\\
        \delta &:= g \odot \sqrt{\Delta + \varepsilon} \oslash \sqrt{G + \varepsilon}\\
        \Delta &:= \rho \Delta + (1 - \rho)\, \delta \odot \delta\\
        w &:= w - \eta\, \delta,

    with PyTorch's defaults :math:`\eta = 1`, :math:`\rho = 0.9`,
    :math:`\varepsilon = 10^{-6}` (Zeiler's :math:`\mathrm{RMS}[x] = \sqrt{E[x^2] + \varepsilon}`;
    his paper has no :math:`\eta`, i.e. :math:`\eta = 1`). Vorontsov's lecture (with
    :math:`\alpha = \rho`) writes :math:`\delta := g \odot (\sqrt{\Delta} + \varepsilon)
    \oslash (\sqrt{G} + \varepsilon)`: ``form="lecture"``. With :math:`\Delta_0 = 0` the
    lecture's first steps are :math:`\varepsilon/\sqrt{\varepsilon} = \sqrt{\varepsilon}`
    times shorter than Zeiler's.
    """

    def __init__(self, eta=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, form="torch"):
        super().__init__(eta)
        if form not in ("torch", "lecture"):
            raise ValueError(f"form must be 'torch' or 'lecture', got {form!r}")
        self.rho, self.eps, self.weight_decay, self.form = rho, eps, weight_decay, form

    def update(self, w, g, state):
        rho, eps, inside = self.rho, self.eps, self.form == "torch"
        if self.weight_decay:
            g = g + self.weight_decay * w
        G = state.setdefault("G", np.zeros_like(w))
        Delta = state.setdefault("Delta", np.zeros_like(w))
        G[...] = rho * G + (1 - rho) * g * g
        delta = g * _root(Delta, eps, inside) / _root(G, eps, inside)
        Delta[...] = rho * Delta + (1 - rho) * delta * delta
        w -= self.eta * delta


# --- Adam and its relatives -------------------------------------------------------------


class Adam(Optimizer):
    r"""Adam (Kingma & Ba, 2015; Vorontsov's lecture) = momentum + RMSProp, as ``torch.optim.Adam``:

    .. math::
        v &:= \beta_1 v + (1 - \beta_1)\, g, & \hat v &:= v / (1 - \beta_1^k),\\
        G &:= \beta_2 G + (1 - \beta_2)\, g \odot g, & \hat G &:= G / (1 - \beta_2^k),\\
        w &:= w - \eta\, \hat v \oslash \bigl(\sqrt{\hat G} + \varepsilon\bigr),

    defaults :math:`\eta = 10^{-3}`, :math:`\beta_1 = 0.9`, :math:`\beta_2 = 0.999`,
    :math:`\varepsilon = 10^{-8}`. Vorontsov's lecture calls :math:`\beta_1` :math:`\gamma` and
    :math:`\beta_2` :math:`\alpha`, and its formula prints :math:`\odot` where the division
    :math:`\oslash` belongs. The bias correction undoes the start :math:`v_0 = G_0 = 0`:
    for a constant gradient, :math:`v_k = (1 - \beta_1^k) g` and :math:`\hat v_k = g`.
    ``bias_correction=False`` drops it (for the demonstrations, not for use).

    ``weight_decay`` :math:`\lambda` is PyTorch's: an :math:`L_2` penalty added to the
    gradient, :math:`g := g + \lambda w`, which then passes through the adaptive
    scaling; :class:`AdamW` decouples it.
    """

    def __init__(self, eta=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0,
                 bias_correction=True):
        super().__init__(eta)
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self.weight_decay, self.bias_correction = weight_decay, bias_correction

    def decay(self, w, g):
        r"""Adam's weight decay: :math:`g := g + \lambda w` (an :math:`L_2` penalty)."""
        return g + self.weight_decay * w if self.weight_decay else g

    def update(self, w, g, state):
        beta1, beta2 = self.beta1, self.beta2
        k = _steps_taken(state)
        g = self.decay(w, g)
        v = state.setdefault("v", np.zeros_like(w))
        G = state.setdefault("G", np.zeros_like(w))
        v[...] = beta1 * v + (1 - beta1) * g
        G[...] = beta2 * G + (1 - beta2) * g * g
        if self.bias_correction:
            v_hat, G_hat = v / (1 - beta1**k), G / (1 - beta2**k)
        else:
            v_hat, G_hat = v, G
        w -= self.eta * v_hat / (np.sqrt(G_hat) + self.eps)


class AdamW(Adam):
    r"""AdamW (Loshchilov & Hutter, 2019), as ``torch.optim.AdamW``: Adam with decoupled
    weight decay,

    .. math:: w := w - \eta\lambda w \quad\text{then the Adam step on } g \text{ itself},

    default :math:`\lambda = 10^{-2}`. Unlike ``Adam(weight_decay=λ)``, the decay is not
    divided by :math:`\sqrt{\hat G}`: every weight shrinks by the same factor
    :math:`1 - \eta\lambda` per step, as in SGD with an :math:`L_2` penalty.
    """

    def __init__(self, eta=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=1e-2):
        super().__init__(eta, beta1, beta2, eps, weight_decay)

    def decay(self, w, g):
        r"""AdamW's weight decay: :math:`w := (1 - \eta\lambda) w`, the gradient untouched."""
        w *= 1 - self.eta * self.weight_decay
        return g


class NAdam(Optimizer):
    r"""Nadam: Adam with Nesterov momentum (Dozat, 2016).

    ``form="torch"`` (default) is ``torch.optim.NAdam``: Dozat's schedule of momentum
    coefficients :math:`\mu_k = \beta_1\bigl(1 - \tfrac12\, 0.96^{k\psi}\bigr)`
    (``momentum_decay`` :math:`\psi = 0.004`) and

    .. math::
        v &:= \beta_1 v + (1-\beta_1) g, \qquad G := \beta_2 G + (1-\beta_2) g\odot g,
        \qquad \hat G = G / (1 - \beta_2^k),\\
        w &:= w - \eta \Bigl(\frac{1 - \mu_k}{1 - \prod_{i \le k}\mu_i}\, g
             + \frac{\mu_{k+1}}{1 - \prod_{i \le k+1}\mu_i}\, v\Bigr)
             \oslash \bigl(\sqrt{\hat G} + \varepsilon\bigr),

    defaults :math:`\eta = 2\cdot 10^{-3}`, :math:`\beta = (0.9, 0.999)`,
    :math:`\varepsilon = 10^{-8}`. ``form="lecture"`` is Vorontsov's lecture's rule with a
    constant :math:`\gamma = \beta_1` (Dozat's simplified form) and Adam's :math:`\hat v`:

    .. math:: w := w - \eta\Bigl(\gamma \hat v + \frac{1 - \gamma}{1 - \gamma^k}\, g\Bigr)
              \oslash \bigl(\sqrt{\hat G} + \varepsilon\bigr)

    (the lecture prints :math:`\odot` for the division). ``weight_decay`` adds
    :math:`\lambda w` to the gradient or, with ``decoupled_weight_decay``, shrinks
    :math:`w := (1 - \eta\lambda) w` first, as in PyTorch.

    PyTorch keeps the product :math:`\prod \mu_i` in its default dtype, float32 unless
    ``torch.set_default_dtype(torch.float64)``; only then do the two agree to float64
    precision (otherwise to about :math:`10^{-8}`).
    """

    def __init__(self, eta=2e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0,
                 momentum_decay=4e-3, decoupled_weight_decay=False, form="torch"):
        super().__init__(eta)
        if form not in ("torch", "lecture"):
            raise ValueError(f"form must be 'torch' or 'lecture', got {form!r}")
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self.weight_decay, self.momentum_decay = weight_decay, momentum_decay
        self.decoupled_weight_decay, self.form = decoupled_weight_decay, form

    def mu(self, k):
        r"""Dozat's momentum schedule :math:`\mu_k = \beta_1 (1 - \frac12 0.96^{k\psi})`."""
        return self.beta1 * (1 - 0.5 * 0.96 ** (k * self.momentum_decay))

    def update(self, w, g, state):
        beta1, beta2, eta = self.beta1, self.beta2, self.eta
        k = _steps_taken(state)
        if self.weight_decay and self.decoupled_weight_decay:
            w *= 1 - eta * self.weight_decay
        elif self.weight_decay:
            g = g + self.weight_decay * w
        v = state.setdefault("v", np.zeros_like(w))
        G = state.setdefault("G", np.zeros_like(w))
        v[...] = beta1 * v + (1 - beta1) * g
        G[...] = beta2 * G + (1 - beta2) * g * g
        denominator = np.sqrt(G / (1 - beta2**k)) + self.eps
        if self.form == "lecture":
            v_hat = v / (1 - beta1**k)
            w -= eta * (beta1 * v_hat + (1 - beta1) / (1 - beta1**k) * g) / denominator
            return
        mu, mu_next = self.mu(k), self.mu(k + 1)
        state["mu_product"] = state.get("mu_product", 1.0) * mu
        mu_product = state["mu_product"]
        w -= eta * (1 - mu) / (1 - mu_product) * g / denominator
        w -= eta * mu_next / (1 - mu_product * mu_next) * v / denominator


# --- the gradient itself ----------------------------------------------------------------


def global_norm(arrays):
    r"""The Euclidean norm of all entries of a dict of arrays, as one long vector:
    :math:`\|g\| = \sqrt{\sum_{\text{name}} \|g_{\text{name}}\|_2^2}`."""
    return float(np.sqrt(sum(np.sum(np.square(a)) for a in arrays.values())))


def clip_grad_norm(grads, theta):
    r"""Gradient clipping by the global norm (Pascanu et al., 2013; Vorontsov's lecture):

    .. math:: \text{if } \|g\| > \theta:\ g := g\,\theta / \|g\|,

    with PyTorch's arithmetic (``torch.nn.utils.clip_grad_norm_``): every gradient is
    multiplied by :math:`\min\bigl(1, \theta / (\|g\| + 10^{-6})\bigr)`, in place.
    :math:`\|g\|` is the norm of all gradients together (:func:`global_norm`).
    Returns that norm before clipping.
    """
    norm = global_norm(grads)
    coefficient = min(1.0, theta / (norm + 1e-6))
    for g in grads.values():
        g *= coefficient
    return norm


def clip_by_norm(g, theta):
    r"""Vorontsov's lecture's clipping rule for one gradient array, as a new array:
    :math:`g\,\theta / \|g\|` if :math:`\|g\| > \theta`, else :math:`g` unchanged (a
    gradient whose norm equals :math:`\theta` included). :math:`\|g\|` is the Euclidean norm of
    all entries."""
    g = np.array(g, dtype=np.float64)
    norm = np.sqrt(np.sum(g**2))
    return g * (theta / norm) if norm > theta else g


def clip_grad_norm_exact(grads, theta):
    r"""Vorontsov's lecture's clipping rule exactly, without PyTorch's :math:`10^{-6}`:

    .. math:: \text{if } \|g\| > \theta:\ g := g\,\theta / \|g\|,

    so a gradient whose norm is at most :math:`\theta` (equal to it included) is left
    untouched, and a clipped one has norm :math:`\theta` to rounding. In place; returns the
    global norm before clipping. :func:`clip_grad_norm` is PyTorch's variant.
    """
    norm = global_norm(grads)
    if norm > theta:
        for g in grads.values():
            g *= theta / norm
    return norm


class GradientNoise:
    r"""Annealed Gaussian gradient noise (Neelakantan et al., 2015; Buryak's lecture):

    .. math:: g := g + \mathcal N(0, \sigma_t^2), \qquad \sigma_t^2 = \frac{\eta}{(1 + t)^\gamma},

    with :math:`\eta = 1`, :math:`\gamma = 0.55` as in the lecture; :math:`t = 0, 1, \dots`
    counts the calls. ``noise(grads)`` returns new noisy gradients.
    """

    def __init__(self, eta=1.0, gamma=0.55, seed=0):
        self.eta, self.gamma = eta, gamma
        self.rng = np.random.default_rng(seed)
        self.t = 0

    def variance(self, t):
        r""":math:`\sigma_t^2 = \eta / (1 + t)^\gamma`."""
        return self.eta / (1 + t) ** self.gamma

    def __call__(self, grads):
        sigma = np.sqrt(self.variance(self.t))
        self.t += 1
        return {name: g + sigma * self.rng.standard_normal(np.shape(g))
                for name, g in grads.items()}


# --- the learning rate ------------------------------------------------------------------


class ReduceOnPlateau:
    r"""Lower the learning rate when the monitored loss stops improving (Kitov's lecture:
    "take a constant step and decrease it once the loss levels off"), as
    ``torch.optim.lr_scheduler.ReduceLROnPlateau``.

    Call ``step(loss)`` once per epoch. A loss is an improvement when it beats the
    best so far by the threshold (mode ``min``, relative:
    :math:`L < L_{\text{best}}(1 - \text{threshold})`; absolute:
    :math:`L < L_{\text{best}} - \text{threshold}`; mode ``max`` mirrors it). After more
    than ``patience`` epochs without improvement,
    :math:`\eta := \max(\eta \cdot \text{factor}, \eta_{\min})` (skipped if it would
    change :math:`\eta` by less than ``eps``), and the next ``cooldown`` epochs are not
    counted.
    """

    def __init__(self, optimizer, mode="min", factor=0.1, patience=10, threshold=1e-4,
                 threshold_mode="rel", cooldown=0, min_eta=0.0, eps=1e-8):
        if factor >= 1.0:
            raise ValueError("factor should be < 1.0")
        if mode not in ("min", "max") or threshold_mode not in ("rel", "abs"):
            raise ValueError("mode is 'min' or 'max', threshold_mode is 'rel' or 'abs'")
        self.optimizer, self.mode, self.factor, self.patience = optimizer, mode, factor, patience
        self.threshold, self.threshold_mode = threshold, threshold_mode
        self.cooldown, self.min_eta, self.eps = cooldown, min_eta, eps
        self.best = np.inf if mode == "min" else -np.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0

    def is_better(self, loss):
        if self.mode == "min" and self.threshold_mode == "rel":
            return loss < self.best * (1 - self.threshold)
        if self.mode == "min":
            return loss < self.best - self.threshold
        if self.threshold_mode == "rel":
            return loss > self.best * (1 + self.threshold)
        return loss > self.best + self.threshold

    def step(self, loss):
        loss = float(loss)
        if self.is_better(loss):
            self.best, self.num_bad_epochs = loss, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            old = self.optimizer.eta
            new = max(old * self.factor, self.min_eta)
            if old - new > self.eps:
                self.optimizer.eta = new
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0


def step_decay(eta0, epoch, step_size, gamma=0.1):
    r"""Step decay (``torch.optim.lr_scheduler.StepLR``):
    :math:`\eta_{\text{epoch}} = \eta_0\,
    \gamma^{\lfloor \text{epoch} / \text{step\_size} \rfloor}`."""
    return eta0 * gamma ** (epoch // step_size)


# --- when to stop -----------------------------------------------------------------------


def _norm(x):
    return global_norm(x) if isinstance(x, dict) else float(np.linalg.norm(np.ravel(x)))


def weights_converged(w_new, w_old, eps):
    r"""The *Deep learning* lecture's first stopping rule :math:`\|w^t - w^{t-1}\| < \varepsilon`
    (arrays, or dicts of arrays with the same keys)."""
    if isinstance(w_new, dict):
        return global_norm({k: w_new[k] - w_old[k] for k in w_new}) < eps
    return _norm(np.asarray(w_new) - np.asarray(w_old)) < eps


def gradient_small(grads, eps):
    r"""The *Deep learning* lecture's second stopping rule :math:`\|\nabla Q(w^t)\| < \varepsilon`."""
    return _norm(grads) < eps


def loss_converged(loss_new, loss_old, eps):
    r"""Kitov's lecture's rule :math:`|Q(w^{t+1}) - Q(w^t)| < \varepsilon`."""
    return abs(loss_new - loss_old) < eps


class EarlyStopping:
    r"""Stop when the validation loss has not improved for ``patience`` epochs
    (the *Deep learning* lecture: "stop when the error on held-out data stops decreasing").

    ``stopper(loss)`` records one epoch and returns ``True`` when it is time to stop;
    ``best_epoch`` (counted from 0) is the epoch whose weights to keep.
    """

    def __init__(self, patience=5, min_delta=0.0):
        self.patience, self.min_delta = patience, min_delta
        self.best, self.best_epoch, self.epoch = np.inf, -1, -1

    def __call__(self, loss):
        self.epoch += 1
        if loss < self.best - self.min_delta:
            self.best, self.best_epoch = loss, self.epoch
        return self.epoch - self.best_epoch >= self.patience


def running_loss_estimate(Q, L_i, lam):
    r"""Vorontsov's lecture's estimate of the functional during SG,
    :math:`Q := (1 - \lambda) Q + \lambda \mathcal{L}_i`: an exponential moving average
    of the last :math:`\approx 1/\lambda` objects' losses, free to compute (each
    :math:`\mathcal{L}_i` is known from the gradient step)."""
    return (1 - lam) * Q + lam * L_i


# --- trajectories (the graded notebook's reference) -------------------------------------


def run(optimizer, w0, grads):
    r"""Apply ``optimizer`` to the sequence of gradients ``grads`` (shape (T, d), row
    :math:`t` is :math:`g_t`) from ``w0`` (d,) and return the trajectory
    :math:`w_0, w_1, \dots, w_T` of shape (T + 1, d)."""
    params = {"w": np.array(w0, dtype=np.float64)}
    trajectory = [params["w"].copy()]
    for g in np.asarray(grads, dtype=np.float64):
        optimizer.step(params, {"w": g})
        trajectory.append(params["w"].copy())
    return np.array(trajectory)


def momentum_run(w0, grads, eta=0.1, gamma=0.9):
    r"""Trajectory of :class:`PolyakMomentum`: :math:`v := \gamma v + (1-\gamma) g_t`,
    :math:`w := w - \eta v`, for the gradients :math:`g_t` = rows of ``grads``."""
    return run(PolyakMomentum(eta, gamma), w0, grads)


def momentum_step(w, g, v, eta=0.1, gamma=0.9):
    r"""One step of :class:`PolyakMomentum` from the velocity ``v``:
    :math:`v := \gamma v + (1-\gamma) g`, :math:`w := w - \eta v`. Returns the new
    ``(w, v)``; the arguments are not modified."""
    optimizer = PolyakMomentum(eta, gamma)
    params = {"w": np.array(w, dtype=np.float64)}
    optimizer.state["w"] = {"v": np.array(v, dtype=np.float64)}
    optimizer.step(params, {"w": g})
    return params["w"], optimizer.state["w"]["v"]


def nag_quadratic_run(w0, A, eta=0.1, gamma=0.9, steps=50):
    r"""Trajectory of :class:`NAG` (Vorontsov's lecture's form) on the quadratic
    :math:`f(w) = \tfrac12 w^\top A w`, whose gradient :math:`A w` is taken at the look-ahead
    point :math:`w - \eta\gamma v`. Returns :math:`w_0, \dots, w_{\text{steps}}`, shape
    (steps + 1, d)."""
    A = np.asarray(A, dtype=np.float64)
    return descend(lambda w: A @ w, w0, NAG(eta, gamma), int(steps))


def rmsprop_run(w0, grads, eta=0.01, alpha=0.99, eps=1e-8):
    r"""Trajectory of :class:`RMSprop`: :math:`G := \alpha G + (1-\alpha) g_t \odot g_t`,
    :math:`w := w - \eta g_t \oslash (\sqrt{G} + \varepsilon)`, for the rows :math:`g_t`
    of ``grads``."""
    return run(RMSprop(eta, alpha, eps), w0, grads)


def adam_run(w0, grads, eta=0.001, beta1=0.9, beta2=0.999, eps=1e-8):
    r"""Trajectory of :class:`Adam` (with bias correction) for the rows of ``grads``."""
    return run(Adam(eta, beta1, beta2, eps), w0, grads)


def unpack_mlp(theta, d, H):
    r"""Split a flat vector :math:`\theta` of length :math:`dH + H + H + 1` into the
    parameters of a ``[d, H, 1]`` MLP: ``W1`` (d, H), ``b1`` (H,), ``W2`` (H, 1), ``b2`` (1,),
    in that order, each block row-major."""
    theta = np.asarray(theta, dtype=np.float64)
    sizes = {"W1": (d, H), "b1": (H,), "W2": (H, 1), "b2": (1,)}
    params, start = {}, 0
    for name, shape in sizes.items():
        size = int(np.prod(shape))
        params[name] = theta[start:start + size].reshape(shape).copy()
        start += size
    if start != theta.size:
        raise ValueError(f"theta has {theta.size} entries, a [{d}, {H}, 1] MLP needs {start}")
    return params


def adam_fit_mlp(theta0, X, y, H=8, eta=0.01, steps=100, beta1=0.9, beta2=0.999, eps=1e-8):
    r"""Full-batch Adam on a ``[d, H, 1]`` tanh MLP (:class:`nnref.mlp.MLP`) with the MSE
    loss, starting from the flat parameters ``theta0`` (see :func:`unpack_mlp`).

    Returns the losses :math:`Q(w_0), \dots, Q(w_{\text{steps}})` (length ``steps + 1``).
    """
    from . import mlp

    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64).reshape(len(X), 1)
    net = mlp.MLP([X.shape[1], H, 1], activation="tanh", output="identity")
    net.params = unpack_mlp(theta0, X.shape[1], H)
    optimizer = Adam(eta, beta1, beta2, eps)
    history = []
    for _ in range(steps):
        loss, grads = mlp.loss_and_grads(net, X, y, "mse")
        history.append(loss)
        optimizer.step(net.params, grads)
    history.append(mlp.loss_and_grads(net, X, y, "mse")[0])
    return np.array(history)


# --- 2-D test functions -----------------------------------------------------------------


def rosenbrock(w, a=1.0, b=100.0):
    r"""Rosenbrock's banana :math:`f(x, y) = (a - x)^2 + b (y - x^2)^2`: a curved, narrow
    ravine with the minimum :math:`f(a, a^2) = 0`. ``w`` has shape (..., 2)."""
    x, y = np.moveaxis(np.asarray(w, dtype=np.float64), -1, 0)
    return (a - x) ** 2 + b * (y - x**2) ** 2


def rosenbrock_grad(w, a=1.0, b=100.0):
    r""":math:`\nabla f = \bigl(-2(a - x) - 4 b x (y - x^2),\ 2 b (y - x^2)\bigr)`."""
    x, y = np.moveaxis(np.asarray(w, dtype=np.float64), -1, 0)
    return np.stack([-2 * (a - x) - 4 * b * x * (y - x**2), 2 * b * (y - x**2)], axis=-1)


def beale(w):
    r"""Beale's function :math:`f = (1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2`,
    flat plateaus and sharp walls, minimum :math:`f(3, 0.5) = 0`."""
    x, y = np.moveaxis(np.asarray(w, dtype=np.float64), -1, 0)
    return sum((c - x + x * y**p) ** 2 for c, p in ((1.5, 1), (2.25, 2), (2.625, 3)))


def beale_grad(w):
    r""":math:`\partial_x f = \sum_p 2 r_p (y^p - 1)`,
    :math:`\partial_y f = \sum_p 2 r_p\, p x y^{p-1}`
    with the residuals :math:`r_p = c_p - x + x y^p`."""
    x, y = np.moveaxis(np.asarray(w, dtype=np.float64), -1, 0)
    dx, dy = 0.0, 0.0
    for c, p in ((1.5, 1), (2.25, 2), (2.625, 3)):
        r = c - x + x * y**p
        dx = dx + 2 * r * (y**p - 1)
        dy = dy + 2 * r * p * x * y ** (p - 1)
    return np.stack([dx, dy], axis=-1)


def saddle(w):
    r"""The saddle :math:`f(x, y) = x^2 - y^2`: a stationary point at the origin that is
    not a minimum; unbounded below along :math:`y`."""
    x, y = np.moveaxis(np.asarray(w, dtype=np.float64), -1, 0)
    return x**2 - y**2


def saddle_grad(w):
    r""":math:`\nabla f = (2x, -2y)`."""
    x, y = np.moveaxis(np.asarray(w, dtype=np.float64), -1, 0)
    return np.stack([2 * x, -2 * y], axis=-1)


def descend(grad, w0, optimizer, steps):
    r"""Minimise a function of a vector from ``w0`` with ``optimizer``, taking each
    gradient ``grad(w)`` at ``optimizer.lookahead`` (the current point, or
    :math:`w - \eta\gamma v` for :class:`NAG`). Returns the trajectory, shape
    (steps + 1, d)."""
    params = {"w": np.array(w0, dtype=np.float64)}
    trajectory = [params["w"].copy()]
    for _ in range(steps):
        point = optimizer.lookahead(params)["w"]
        optimizer.step(params, {"w": grad(point)})
        trajectory.append(params["w"].copy())
    return np.array(trajectory)
