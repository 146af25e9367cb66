"""What tests and tools use to check mgdsl's exports against the eager module: a public harness, as
torch ships `torch.testing.assert_close`.

- :func:`load_exported` runs an exported `.onnx` (through onnxruntime) or `.pt2` file on a batch;
- :func:`calibrate_batch_norm` and :func:`warm_up` put fresh weights in the state the checks compare
  in (batch norm statistics from random batches; a few Adam steps for deep networks, docs/export.md);
- :func:`verify` runs a file and a module on the same random batches and says whether they agree;
- :func:`export_and_verify` does the whole round trip for a network: fresh weights with calibrated batch
  norm, exported to a file, the file checked against the module;
- :func:`module_for_export` is the module `mgdsl export` exports (the plain portable lowering, eval
  mode), so that a check compares the file with what was exported.

Nothing in the product imports this module; torch (and onnxruntime for ONNX files) is needed to use it.
"""
from __future__ import annotations

import os
import warnings

from .backends.export import INPUT, ONNX_INSTALL, format_of, module_for_export, quiet
from .errors import UsageError

__all__ = ["load_exported", "calibrate_batch_norm", "warm_up", "verify", "module_for_export", "export_and_verify"]


def load_exported(path: str | os.PathLike):
    """A function that runs an exported file on a batch `x` (a CPU tensor) and returns a tensor, or a
    tuple of them for a network with several outputs: `.onnx` through onnxruntime's CPU provider,
    `.pt2` through `torch.export.load`."""
    import torch  # here: importing mgdsl.testing costs nothing until a check runs
    path = os.fspath(path)
    if format_of(path) == ".onnx":
        try:
            import onnxruntime as ort  # here: importing mgdsl.testing costs nothing until a check runs
        except ImportError:
            raise UsageError("running an ONNX file needs onnxruntime", hint=f"install it with: {ONNX_INSTALL}") from None
        session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])

        def run_onnx(x):
            outs = [torch.from_numpy(o) for o in session.run(None, {INPUT: x.detach().cpu().numpy()})]
            return outs[0] if len(outs) == 1 else tuple(outs)
        return run_onnx
    with quiet():
        module = torch.export.load(path).module()

    def run(x):
        with torch.no_grad():
            return module(x)
    return run


def calibrate_batch_norm(model, input_shape: tuple, batches: int = 2, size: int = 4, seed: int = 0):
    """Give fresh batch norm layers running statistics from random batches, as training would: with
    the fresh ones (mean 0, variance 1), eval-mode activations grow layer after layer (to hundreds in
    a deep residual net), far from any trained network, and float32 rounding grows with them."""
    import torch  # here: importing mgdsl.testing costs nothing until a check runs
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None                       # a plain average over the batches
    gen = torch.Generator().manual_seed(seed)
    model.train()
    with torch.no_grad():
        for _ in range(batches):
            model(torch.randn(size, *input_shape, generator=gen))
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    return model.eval()


def _regression_targets(outputs, x, maps):
    """For each output [N, K, ...]: the input average-pooled to the output's grid (over the whole
    image for an output without one), mapped to K channels by a fixed random K x C matrix from
    `maps`, and scaled to mean 0 and variance 1 over the batch."""
    import torch  # here: importing mgdsl.testing costs nothing until a check runs
    import torch.nn.functional as F
    targets = []
    for y, proj in zip(outputs, maps):
        n, c = x.shape[:2]
        if y.dim() == 4:
            src = F.adaptive_avg_pool2d(x, y.shape[2:])
        else:
            src = x.mean(dim=tuple(range(2, x.dim()))).reshape(n, c, *[1] * max(y.dim() - 2, 0))
        t = torch.einsum("kc,nc...->nk...", proj, src)
        t = t.reshape(y.shape) if y.dim() == 1 else t.expand(y.shape)
        targets.append((t - t.mean()) / (t.std() + 1e-6))
    return targets


def warm_up(model, input_shape: tuple, steps: int = 10, batch: int = 2, lr: float = 0.01, seed: int = 0):
    """The state in which the checks compare an exported file with its module: fresh weights moved
    by `steps` Adam steps (batches of `batch` random inputs) towards a synthetic regression target
    (each output towards a fixed random linear map of the pooled input), then batch norm statistics
    from random batches (`calibrate_batch_norm`). Returns the module in eval mode.

    Why not the fresh weights themselves: a deep network whose random weights feed calibrated batch
    norm amplifies float32 rounding from layer to layer. In DeepLabV3-ResNet50 the relative
    difference between its float32 and float64 outputs grows from 2e-7 after the first conv to 1e-4
    at the output (docs/export.md), so two float32 evaluations of the same graph (eager PyTorch and
    onnxruntime) differ by several times the export tolerance whichever is right. Trained weights
    do not do this: the same network after 50 to 200 SGD steps on a synthetic segmentation task
    stays below 1e-6, and these few steps, at a fraction of the cost, bring it to 3e-7 - 4e-6.

    Only networks with batch norm are moved: without it nothing is calibrated, the fresh weights do
    not amplify rounding (U-Net-2015, VGG-16: ~1e-6), and unnormalised layers would change their
    scale under the steps. `steps=0` only calibrates. If the loss stops being finite, the weights go
    back to where they started."""
    import torch  # here: importing mgdsl.testing costs nothing until a check runs
    has_norm = any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules())
    if steps > 0 and has_norm:
        params = [p for p in model.parameters() if p.requires_grad]
        start = {k: v.detach().clone() for k, v in model.state_dict().items()}
        gen = torch.Generator().manual_seed(seed)
        opt = torch.optim.Adam(params, lr=lr)
        maps = None
        model.train()
        with torch.enable_grad():
            for _ in range(steps):
                x = torch.randn(batch, *input_shape, generator=gen)
                out = model(x)
                outs = list(out) if isinstance(out, (tuple, list)) else [out]
                if maps is None:
                    maps = [torch.randn(y.shape[1] if y.dim() > 1 else 1, input_shape[0], generator=gen)
                            / input_shape[0] ** 0.5 for y in outs]
                targets = _regression_targets(outs, x, maps)
                loss = sum((torch.nn.functional.mse_loss(y, t) for y, t in zip(outs, targets)), torch.zeros(()))
                if not torch.isfinite(loss):
                    model.load_state_dict(start)
                    warnings.warn("warm_up: the loss stopped being finite; the fresh weights are kept",
                                  RuntimeWarning, stacklevel=2)
                    break
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        for p in params:
            p.grad = None
    return calibrate_batch_norm(model, input_shape, seed=seed)


def verify(path: str | os.PathLike, model, input_shape: tuple, batches=(1, 2), rtol: float = 1e-3,
           atol: float = 1e-4, seed: int = 0) -> tuple[bool, float, float]:
    """Run the exported file (loaded once) and the eager `model` (in eval mode) on the same random
    batches of each size in `batches`. Returns (every output element within atol + rtol * |eager|,
    the largest absolute error, the largest ratio of an element's error to its tolerance)."""
    import torch  # here: importing mgdsl.testing costs nothing until a check runs
    run = load_exported(path)
    gen = torch.Generator().manual_seed(seed)
    worst, ratio = 0.0, 0.0
    model.eval()
    for n in batches:
        x = torch.randn(n, *input_shape, generator=gen)
        with torch.no_grad():
            want = model(x)
        got = run(x)
        wants = list(want) if isinstance(want, (tuple, list)) else [want]
        gots = list(got) if isinstance(got, (tuple, list)) else [got]
        if len(gots) != len(wants) or any(g.shape != w.shape for g, w in zip(gots, wants)):
            return False, float("inf"), float("inf")
        for g, w in zip(gots, wants):          # every output of a network with several
            err = (g - w).abs()
            worst = max(worst, err.max().item())
            ratio = max(ratio, (err / (atol + rtol * w.abs())).max().item())
    return ratio <= 1.0, worst, ratio


def export_and_verify(net, path: str | os.PathLike, seed: int = 0, warm: bool = False,
                      **tolerances) -> tuple[bool, float, float]:
    """Export `net` (an :class:`mgdsl.Network`) to `path` (.onnx or .pt2) with fresh weights whose
    batch norm is calibrated (`warm`: moved by :func:`warm_up` first, as a deep network needs), then
    :func:`verify` the file against the module it came from."""
    import torch  # here: importing mgdsl.testing costs nothing until a check runs
    torch.manual_seed(seed)
    fresh = module_for_export(net, None)
    model = warm_up(fresh, net.input_shape) if warm else calibrate_batch_norm(fresh, net.input_shape)
    net.export(path, weights=model.state_dict())
    return verify(path, model, net.input_shape, **tolerances)
