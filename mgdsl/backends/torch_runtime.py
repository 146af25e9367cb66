"""Runtime helpers of the code that the torch back end generates.

This is a real module, linted and unit-tested like the rest of mgdsl. Generated standalone files do
not import it: `torch_source` copies the sections a network needs (each between a
``# ---- section NAME`` line and the next ``# ---- end``) into the file, the way lark's standalone
parser generator copies its runtime. Sections may use only torch and the names defined in the
sections before them; keep every section self-contained.
"""
# ---- section imports
import torch
import torch.nn.functional as F
from torch import nn

# ---- end


# ---- section core
def _put(root, path, module):
    """Register `module` at a dotted path, creating ModuleDicts along the way."""
    *parents, leaf = path.split(".")
    for p in parents:
        if p not in root._modules:
            root.add_module(p, nn.ModuleDict())
        root = root._modules[p]
    root.add_module(leaf, module)
    return module


def _new(cls, *args, device="cpu", channels_last=False, **kwargs):
    """`cls(*args, **kwargs)` on `device`, its parameters and buffers allocated but not filled (`_init`
    fills them): the module is made on the meta device, so torch's default init never runs (what
    torch's `skip_init` does, at twice the cost per module). `channels_last`: its 4-d weight is
    stored channels-last, where a GEMM conv reads it as its matrix. Batch norm, whose own init is
    a few fills, is made directly on `device`, which costs half the meta round trip."""
    if cls is nn.BatchNorm2d:
        return cls(*args, device=device, **kwargs)
    module = cls(*args, device="meta", **kwargs)
    for name, t in [*module.named_parameters(recurse=False), *module.named_buffers(recurse=False)]:
        new = torch.empty(t.shape, dtype=t.dtype, device=device)
        if channels_last and new.dim() == 4 and not new.is_contiguous(memory_format=torch.channels_last):
            new = torch.empty_like(new, memory_format=torch.channels_last)
        setattr(module, name, nn.Parameter(new, t.requires_grad) if isinstance(t, nn.Parameter) else new)
    return module


def _init(modules):
    """The paper's initialisation: conv weights ~ N(0, 2 / (k*k*C_out)), zero biases, BN 1 and 0."""
    convs = [m for m in modules if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    with torch.no_grad():
        _normal_fill([(m.weight, (2.0 / (m.out_channels * m.weight[0, 0].numel())) ** 0.5) for m in convs])
        for m in modules:
            if isinstance(m, (nn.BatchNorm2d, nn.Linear)):
                m.reset_parameters()
            if getattr(m, "bias", None) is not None and not isinstance(m, nn.BatchNorm2d):
                m.bias.zero_()


def _normal_fill(tensors):
    """Fill each (tensor, std) of `tensors` with N(0, std^2) samples. Drawing them is most of the
    build time of a big network, so two generators fill halves of the list in two threads; they are
    seeded from torch's global generator, so `torch.manual_seed` still makes builds reproducible."""
    if not tensors or tensors[0][0].device.type == "meta":
        return
    device = tensors[0][0].device
    seeds = torch.randint(0, 2 ** 62, (2,)).tolist()
    total, acc, split = sum(t.numel() for t, _ in tensors), 0, len(tensors)
    for i, (t, _) in enumerate(tensors):
        if acc >= total // 2:
            split = i
            break
        acc += t.numel()

    errors = []

    def fill(part, seed):
        try:
            gen = torch.Generator(device=device).manual_seed(seed)
            with torch.no_grad():                    # grad mode is per thread
                for t, std in part:
                    _draw(t, std, gen)
        except BaseException as e:                   # re-raised in the calling thread
            errors.append(e)

    if total < 1 << 20:
        fill(tensors, seeds[0])
    else:
        import threading
        worker = threading.Thread(target=fill, args=(tensors[split:], seeds[1]))
        worker.start()
        fill(tensors[:split], seeds[0])
        worker.join()
    if errors:
        raise errors[0]


def _draw(t, std, gen):
    """Fill `t` with N(0, std^2) samples from `gen`. A conv weight's values are drawn in channels-last
    order (out, kernel row, kernel column, in) whatever its layout, so the same generator state gives
    the same weights to every target and layout; a channels-last weight (the CPU target's GEMM convs
    hold most of a big network's weights) is drawn in place, in its memory order.

    On the CPU both layouts go by the same blocks of whole output channels, so they agree by
    construction: a channels-last weight draws each block in place; another draws it into a buffer
    and copies it into place piece by piece, each piece under torch's grain size so that this thread
    copies it alone (a parallel copy would wait for the core that the other fill thread holds)."""
    v = t.permute(0, 2, 3, 1) if t.dim() == 4 else t       # the drawing order
    if t.device.type != "cpu" or t.dim() != 4 or t.numel() == 0:
        if v.is_contiguous():
            v.normal_(0.0, std, generator=gen)
        else:
            v.copy_(torch.empty(v.shape, dtype=t.dtype, device=t.device).normal_(0.0, std, generator=gen))
        return
    row = v[0].numel()
    rows = max(1, (1 << 18) // row)                       # a block: about a MB of float32
    if v.is_contiguous():
        for o in range(0, v.shape[0], rows):
            v[o:o + rows].normal_(0.0, std, generator=gen)
        return
    piece = max(1, ((1 << 15) - 1) // row)
    buf = torch.empty(min(rows, v.shape[0]) * row, dtype=t.dtype).view(-1, *v.shape[1:])
    for o in range(0, v.shape[0], rows):
        n = min(rows, v.shape[0] - o)
        block = buf[:n].normal_(0.0, std, generator=gen)
        for p in range(0, n, piece):
            v[o + p:o + min(p + piece, n)].copy_(block[p:p + piece])
# ---- end


# ---- section norms
class _LayerScale(nn.Module):
    """A learnable scale per channel (ConvNeXt's layer scale): x times a C x 1 x 1 weight."""

    def __init__(self, channels, init=1e-6, device=None):
        super().__init__()
        self.init = init
        self.weight = nn.Parameter(torch.empty(channels, 1, 1, device=device))

    def reset_parameters(self):
        nn.init.constant_(self.weight, self.init)

    def forward(self, x):
        return x * self.weight


def _init_norms(modules):
    """Layer norm and group norm start at scale 1 and shift 0, a layer scale at its init value."""
    with torch.no_grad():
        for m in modules:
            if isinstance(m, (nn.LayerNorm, nn.GroupNorm, _LayerScale)):
                m.reset_parameters()
# ---- end


# ---- section droppath
def _drop_path(x, p, training):
    """Stochastic depth: in training, each sample's tensor is kept with probability 1 - p and then
    scaled by 1 / (1 - p); the identity in eval mode."""
    if not training or p == 0.0:
        return x
    keep = 1.0 - p
    mask = torch.empty((x.shape[0],) + (1,) * (x.dim() - 1), dtype=x.dtype, device=x.device).bernoulli_(keep)
    return x * mask / keep
# ---- end


# ---- section target_check
def _check_target(module, x, network, target):
    """Warn once when the module runs on a device its code was not tuned for."""
    kind = x.device.type
    if kind in ("cpu", "cuda") and not getattr(module, "_target_warned", False) and not torch.compiler.is_compiling():
        module._target_warned = True
        import warnings
        warnings.warn(f"{network} was generated for {target} and runs on {kind}, where "
                      f"its code is slower (up to 2x, measured on CUDA): build it with device='{kind}' or "
                      f"`mgdsl compile --target {kind}`", stacklevel=3)
# ---- end


# ---- section gemm
def _onednn_dtypes():
    """The dtypes oneDNN's matmul takes on this machine: none where torch was built without oneDNN,
    no bf16 on a CPU without bf16 kernels."""
    ok = set()
    if torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise"):
        for dtype in (torch.float32, torch.bfloat16):
            try:
                a = torch.ones(2, 2, dtype=dtype)
                torch.ops.mkldnn._linear_pointwise(a, a, None, "none", [], "")
                ok.add(dtype)
            except Exception:  # noqa: BLE001 - any failure means: use torch's own kernel
                pass
    return ok


_ONEDNN_DTYPES = _onednn_dtypes()


def _mm_t(a, b, bias=None):
    """a @ b.T (+ bias). On the CPU this is oneDNN's matmul where it can be, which measured about twice
    as fast as the BLAS behind torch.mm on the AMD CPU of the benchmarks; torch's own kernel elsewhere,
    and under torch.compile (inductor lowers that op only with frozen weights)."""
    if a.device.type == "cpu" and a.dtype in _ONEDNN_DTYPES and not torch.compiler.is_compiling():
        return torch.ops.mkldnn._linear_pointwise(a, b, bias, "none", [], "")
    return F.linear(a, b, bias)


def _patches(x, k, pad):
    """im2col with one row per output pixel and the columns in (ky, kx, c) order, the order of a
    channels-last weight's (ky, kx, c) axes."""
    n, c, h, w = x.shape
    if k == 1 and pad == 0:
        return x.permute(0, 2, 3, 1).reshape(-1, c)
    xp = x.new_zeros(n, h + 2 * pad, w + 2 * pad, c)
    xp[:, pad:pad + h, pad:pad + w] = x.permute(0, 2, 3, 1)
    return xp.unfold(1, k, 1).unfold(2, k, 1).permute(0, 1, 2, 4, 5, 3).reshape(-1, k * k * c)


def _unpatch(g, shape, k, pad):
    """The adjoint of _patches: each entry of each patch row goes back onto the pixel it came from."""
    n, c, h, w = shape
    if k == 1 and pad == 0:
        return g.view(n, h, w, c).permute(0, 3, 1, 2)
    ho, wo = h + 2 * pad - k + 1, w + 2 * pad - k + 1
    g = g.view(n, ho, wo, k, k, c)
    out = g.new_zeros(n, h + 2 * pad, w + 2 * pad, c)
    for i in range(k):
        for j in range(k):
            out[:, i:i + ho, j:j + wo] += g[:, :, :, i, j]
    return out[:, pad:pad + h, pad:pad + w].permute(0, 3, 1, 2)


def _weight_matrix(weight):
    """(out, ky * kx * in): a view for a channels-last weight, a copy otherwise."""
    return weight.permute(0, 2, 3, 1).reshape(weight.shape[0], -1)


def _conv_gemm(x, weight, bias, pad):
    """A stride-1 conv as one GEMM: (output in channels-last layout, the patches)."""
    n, _, h, w = x.shape
    o, _, k, _ = weight.shape
    a = _patches(x, k, pad)
    y = _mm_t(a, _weight_matrix(weight), bias)
    return y.view(n, h + 2 * pad - k + 1, w + 2 * pad - k + 1, o).permute(0, 3, 1, 2), a


class _ConvGEMM(torch.autograd.Function):
    """Stride-1 conv on a grid of a few pixels as im2col GEMMs in all three passes. oneDNN's conv would
    reorder the (large) weights into its blocked layout for the forward and the input gradient, and
    the weight gradient back out of it, which takes longer than the arithmetic on such grids."""

    @staticmethod
    def forward(ctx, x, weight, bias, pad):
        kind = x.device.type
        ctx.dtypes = x.dtype, weight.dtype, None if bias is None else bias.dtype
        if kind in ("cpu", "cuda") and torch.is_autocast_enabled(kind):   # the dtype F.conv2d would run in
            dt = torch.get_autocast_dtype(kind)
            x, weight, bias = x.to(dt), weight.to(dt), None if bias is None else bias.to(dt)
        y, a = _conv_gemm(x, weight, bias, pad)
        ctx.save_for_backward(a, weight)
        ctx.shape, ctx.pad = x.shape, pad
        return y

    @staticmethod
    def backward(ctx, g):
        a, weight = ctx.saved_tensors
        (n, c, h, w), pad, (tx, tw, tb) = ctx.shape, ctx.pad, ctx.dtypes
        o, _, k, _ = weight.shape
        g = g.to(a.dtype).permute(0, 2, 3, 1).reshape(-1, o)
        gx = gw = gb = None
        if ctx.needs_input_grad[0]:
            gx = _unpatch(_mm_t(g, _weight_matrix(weight).t()), (n, c, h, w), k, pad).to(tx)
        if ctx.needs_input_grad[1]:
            gw = _mm_t(g.t(), a.t()).view(o, k, k, c).permute(0, 3, 1, 2).to(tw)
        if ctx.needs_input_grad[2]:
            gb = g.sum(0).to(tb)
        return gx, gw, gb, None
# ---- end


# ---- section convT
_UP3 = torch.tensor([[0., 0., 1.], [0., 1., 1.], [1., 1., 0.], [1., 0., 0.]])
_UP3x3 = torch.kron(_UP3, _UP3).t().contiguous()         # 9 x 16


def _up_kernel(w):
    """3x3 conv weights (O, C, 3, 3) read through x2 nearest upsampling -> the (C, O, 4, 4) kernel of
    the stride-2 transposed conv on the coarse grid that computes the same map."""
    o, c = w.shape[:2]
    return (w.reshape(o * c, 9) @ _UP3x3.to(w)).view(o, c, 4, 4).transpose(0, 1)
# ---- end


# ---- section layout
class _DefaultLayout(torch.autograd.Function):
    """Return channels-last maps in the default layout, and send their gradient back channels-last
    (a gradient in the other layout would push every backward kernel off its fast path)."""

    @staticmethod
    def forward(ctx, x):
        return x.contiguous()

    @staticmethod
    def backward(ctx, g):
        return g.contiguous(memory_format=torch.channels_last)
# ---- end


# ---- section fold
def _fold(conv, bn):
    """Conv weights and bias with an eval-mode batch norm folded in."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    bias = bn.bias - bn.running_mean * scale
    if conv.bias is not None:
        bias = bias + conv.bias * scale
    return conv.weight * scale.view(-1, 1, 1, 1), bias
# ---- end
