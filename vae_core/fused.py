"""One training step of an MLP VAE written out by hand: the forward pass, the -ELBO and its gradient
(the reparameterised estimator of Kingma & Welling 2014, the same maths autograd computes), into
buffers made once per batch size.

Why by hand: on a CPU the step is a chain of matrix products with cheap elementwise work between
them, and autograd adds what is not the products: a graph per step, a fresh tensor for every
intermediate, a separate pass for each ReLU mask, bias gradient and loss term. Here the products
write into kept buffers (`out=`), biases ride in `addmm`, ReLUs are in place, the ReLU gradient is
one masked pass (`threshold_backward`), and the Bernoulli loss shares its sigmoid with its gradient.
tests/unit/test_training.py checks the gradients against autograd.
"""
import torch
from torch import nn

from vae_core.model import VAE


def supports(model: VAE) -> bool:
    """Whether the model is an MLP VAE this step can train (the conv variant uses autograd)."""
    return model.cfg.arch == "mlp"


class MLPStep:
    """step(x, beta) -> (loss, nll, kl), scalars in nats per image (averaged over the batch), with the
    gradient of loss = nll + beta * kl left in each parameter's .grad, for the optimizer to apply.

    The noise is drawn as VAE.forward draws it (torch.randn of mu's shape, from the global
    generator, after the encoder), so a run is as repeatable as one through autograd.
    """

    def __init__(self, model: VAE):
        if not supports(model):
            raise ValueError("MLPStep trains MLP VAEs only")
        self.enc = [m for m in model.encoder.modules() if isinstance(m, nn.Linear)]
        self.dec = [m for m in model.decoder.modules() if isinstance(m, nn.Linear)]
        self.d = model.cfg.latent_dim
        for p in model.parameters():
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        self.size = None

    def _buffers(self, b: int, like: torch.Tensor) -> None:
        new = lambda *shape: torch.empty(*shape, dtype=like.dtype, device=like.device)
        self.h_enc = [new(b, m.out_features) for m in self.enc]  # post-ReLU activations; the last: [mu, logvar]
        self.h_dec = [new(b, m.out_features) for m in self.dec]  # the last: logits
        self.g_enc = [new(b, m.in_features) for m in self.enc]
        self.g_dec = [new(b, m.in_features) for m in self.dec]
        self.z, self.std, self.p, self.g_out = new(b, self.d), new(b, self.d), new(b, 784), new(b, 2 * self.d)
        self.size = b

    @torch.no_grad()
    def __call__(self, x: torch.Tensor, beta: float = 1.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x: [B, 1, 28, 28] (or [B, 784]) in [0, 1]."""
        b = len(x)
        if self.size != b:
            self._buffers(b, x)
        x = x.reshape(b, -1)
        mu, logvar, eps, logits = self._forward(x)
        nll, kl = self._loss(x, mu, logvar, logits)
        self._backward(x, mu, eps, beta / b)
        return nll + beta * kl, nll, kl

    def _forward(self, x):
        h = x
        for i, (m, out) in enumerate(zip(self.enc, self.h_enc)):
            h = torch.addmm(m.bias, h, m.weight.t(), out=out)
            if i < len(self.enc) - 1:
                h.clamp_min_(0)
        mu, logvar = h[:, :self.d], h[:, self.d:]
        torch.mul(logvar, 0.5, out=self.std).exp_()
        eps = torch.randn(mu.shape, dtype=mu.dtype, device=mu.device)  # as VAE.forward: randn_like(mu)
        h = torch.addcmul(mu, eps, self.std, out=self.z)
        for i, (m, out) in enumerate(zip(self.dec, self.h_dec)):
            h = torch.addmm(m.bias, h, m.weight.t(), out=out)
            if i < len(self.dec) - 1:
                h.clamp_min_(0)
        return mu, logvar, eps, h

    def _loss(self, x, mu, logvar, logits):
        """Bernoulli NLL summed over pixels and the analytic KL, each averaged over the batch. The NLL
        is sum(softplus(l) - x l), with softplus(l) = relu(l) - log(max(p, 1 - p)) from the sigmoid
        p the gradient needs anyway (max(p, 1 - p) >= 1/2: no underflow)."""
        b = len(x)
        p = torch.sigmoid(logits, out=self.p)
        softplus = torch.relu(logits).sum() - (p - 0.5).abs_().add_(0.5).log_().sum()
        nll = (softplus - torch.dot(x.reshape(-1), logits.reshape(-1))) / b
        kl = 0.5 * (mu.pow(2).sum() + self.std.pow(2).sum() - logvar.sum()) / b - 0.5 * self.d
        return nll, kl

    def _backward(self, x, mu, eps, beta_b):
        """Gradients of the batch-mean loss: d logits = (p - x) / B, back through the decoder, the
        reparameterisation (z = mu + eps std) and the KL's own terms, then through the encoder."""
        b = len(x)
        g = self.p.sub_(x).div_(b)
        dz = self._back(self.dec, [self.z, *self.h_dec[:-1]], self.g_dec, g, first_needs_grad=True)
        dmu, dlogvar = self.g_out[:, :self.d], self.g_out[:, self.d:]
        torch.add(dz, mu, alpha=beta_b, out=dmu)  # d/d mu of beta KL / B is beta mu / B
        torch.mul(dz, eps, out=dlogvar).mul_(self.std).mul_(0.5)  # dz * dz/dlogvar = dz eps std / 2
        dlogvar.add_(self.std.pow(2).sub_(1).mul_(0.5 * beta_b))  # beta (exp(logvar) - 1) / (2 B)
        self._back(self.enc, [x, *self.h_enc[:-1]], self.g_enc, self.g_out, first_needs_grad=False)

    @staticmethod
    def _back(layers, inputs, grads_in, g, first_needs_grad: bool):
        """Back through Linear layers (ReLU after all but the last): weight and bias gradients into
        .grad, and the gradient of the first layer's input, returned (None when not needed)."""
        for i in range(len(layers) - 1, -1, -1):
            m, h = layers[i], inputs[i]
            torch.mm(g.t(), h, out=m.weight.grad)
            torch.sum(g, 0, out=m.bias.grad)
            if i == 0 and not first_needs_grad:
                return None
            g = torch.mm(g, m.weight, out=grads_in[i])
            if i > 0:  # through the ReLU that made h
                torch.ops.aten.threshold_backward.grad_input(g, h, 0.0, grad_input=g)
        return g
