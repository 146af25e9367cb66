"""Unit tests of the torch back end's runtime helpers (mgdsl/backends/torch_runtime.py), the code that
generated files copy: each helper against its definition, in float64."""
import pytest
import torch
import torch.nn.functional as F

from mgdsl.backends import torch_runtime as rt

torch.manual_seed(0)


@pytest.mark.parametrize("k, pad", [(3, 1), (1, 0), (3, 0), (5, 2)])
def test_patches_and_unpatch_are_adjoint(k, pad):
    """<patches(x), g> == <x, unpatch(g)> for every x and g: the input gradient of the GEMM conv."""
    x = torch.randn(2, 3, 5, 4, dtype=torch.float64)
    a = rt._patches(x, k, pad)
    g = torch.randn_like(a)
    assert torch.allclose((a * g).sum(), (x * rt._unpatch(g, x.shape, k, pad)).sum())


@pytest.mark.parametrize("k, pad", [(3, 1), (1, 0), (3, 0)])
def test_conv_gemm_is_a_conv_and_its_gradients_check(k, pad):
    x = torch.randn(2, 4, 4, 3, dtype=torch.float64, requires_grad=True)
    w = torch.randn(5, 4, k, k, dtype=torch.float64, requires_grad=True)
    b = torch.randn(5, dtype=torch.float64, requires_grad=True)
    torch.testing.assert_close(rt._ConvGEMM.apply(x, w, b, pad), F.conv2d(x, w, b, 1, pad))
    assert torch.autograd.gradcheck(lambda x, w, b: rt._ConvGEMM.apply(x, w, b, pad), (x, w, b))


def test_conv_gemm_reads_a_channels_last_weight_as_its_matrix_without_a_copy():
    w = torch.randn(6, 4, 3, 3).contiguous(memory_format=torch.channels_last)
    assert rt._weight_matrix(w).data_ptr() == w.data_ptr()


def test_up_kernel_folds_nearest_upsampling_into_a_transposed_conv():
    """conv3x3(up2(x)) == conv_transpose2d(x, up_kernel(w), stride 2, padding 1)."""
    x = torch.randn(2, 3, 4, 5, dtype=torch.float64)
    w = torch.randn(6, 3, 3, 3, dtype=torch.float64)
    want = F.conv2d(F.interpolate(x, scale_factor=2, mode="nearest"), w, None, 1, 1)
    torch.testing.assert_close(F.conv_transpose2d(x, rt._up_kernel(w), None, 2, 1), want)


def test_fold_gives_the_conv_and_eval_batch_norm_in_one_conv():
    conv, bn = torch.nn.Conv2d(3, 4, 3, padding=1).double(), torch.nn.BatchNorm2d(4).double()
    with torch.no_grad():
        bn.running_mean.normal_()
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.normal_()
        bn.bias.normal_()
    bn.eval()
    x = torch.randn(2, 3, 6, 6, dtype=torch.float64)
    w, b = rt._fold(conv, bn)
    torch.testing.assert_close(F.conv2d(x, w, b, 1, 1), bn(conv(x)))


def test_default_layout_returns_contiguous_maps_and_sends_the_gradient_back_channels_last():
    x = torch.randn(2, 3, 4, 4).contiguous(memory_format=torch.channels_last).requires_grad_()
    y = rt._DefaultLayout.apply(x)
    assert y.is_contiguous() and torch.equal(y, x)
    y.backward(torch.ones_like(y))
    assert x.grad.is_contiguous(memory_format=torch.channels_last)


def test_put_registers_modules_at_dotted_paths():
    root = torch.nn.Module()
    rt._put(root, "s1.conv1.g8.conv", torch.nn.Conv2d(1, 1, 1))
    rt._put(root, "s1.conv1.g4.conv", torch.nn.Conv2d(1, 1, 1))
    assert sorted(k for k, _ in root.named_parameters()) == [
        "s1.conv1.g4.conv.bias", "s1.conv1.g4.conv.weight", "s1.conv1.g8.conv.bias", "s1.conv1.g8.conv.weight"]


def test_init_follows_the_papers_rule_and_is_reproducible():
    mods = [torch.nn.Conv2d(16, 64, 3), torch.nn.BatchNorm2d(64), torch.nn.Linear(8, 2)]
    torch.manual_seed(1)
    rt._init(mods)
    std = mods[0].weight.std().item()
    assert abs(std - (2.0 / (9 * 64)) ** 0.5) < 0.1 * std and not mods[0].bias.any()
    first = mods[0].weight.clone()
    torch.manual_seed(1)
    rt._init(mods)
    assert torch.equal(first, mods[0].weight)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_normal_fill_gives_a_conv_weight_the_same_values_in_every_layout(dtype):
    """The same generator state gives a 4-d weight the same values whether it is stored channels-last
    (drawn in place: its memory is in the drawing order), contiguous or otherwise (through a buffer),
    whatever its size (one block or many; rows of any length). The list is big enough for two fill
    threads."""
    shapes = [(64, 48, 3, 3), (32, 16, 1, 1), (8, 3, 3, 3), (4000, 7, 3, 3), (1, 16, 3, 3), (2048, 64, 3, 3),
              (3, 4096, 3, 3), (5, 30000, 3, 3), (0, 4, 3, 3), (4, 0, 3, 3)]
    assert sum(torch.Size(s).numel() for s in shapes) >= 1 << 20
    stored = [torch.empty(s, dtype=dtype).contiguous(memory_format=torch.channels_last) for s in shapes]
    plain = [torch.empty(s, dtype=dtype) for s in shapes]
    odd = [torch.empty(w, h, i, o, dtype=dtype).permute(3, 2, 1, 0) for o, i, h, w in shapes]  # neither
    for tensors in (stored, plain, odd):
        torch.manual_seed(3)
        rt._normal_fill([(t, 0.5) for t in tensors])
    for a, b, c in zip(stored, plain, odd):
        assert torch.equal(a, b) and torch.equal(a, c)
        assert a.is_contiguous(memory_format=torch.channels_last) and b.is_contiguous()
    for t in (stored[5], stored[7]):        # many blocks, and a row longer than a block
        assert abs(t.std().item() / 0.5 - 1) < 0.01 and abs(t.mean().item()) < 0.01


@pytest.mark.parametrize("cls, args", [(torch.nn.Conv2d, (4, 6, 3)), (torch.nn.Conv2d, (4, 6, 1)),
                                       (torch.nn.BatchNorm2d, (6,)), (torch.nn.Linear, (5, 2)),
                                       (torch.nn.ConvTranspose2d, (4, 6, 4))])
@pytest.mark.parametrize("channels_last", [False, True])
def test_new_makes_the_module_with_unfilled_tensors_on_the_device(cls, args, channels_last):
    want = cls(*args)
    for device in ("cpu", "meta"):
        got = rt._new(cls, *args, device=device, channels_last=channels_last)
        assert repr(got) == repr(want)
        for (k, a), (k2, b) in zip([*want.named_parameters(), *want.named_buffers()],
                                   [*got.named_parameters(), *got.named_buffers()], strict=True):
            assert (k, a.shape, a.dtype, a.requires_grad, type(a)) == (k2, b.shape, b.dtype, b.requires_grad, type(b))
            assert b.device.type == device
            # the layout the GEMM conv reads, with the strides `.contiguous(memory_format=...)` would give
            layout = torch.channels_last if channels_last and b.dim() == 4 else torch.contiguous_format
            assert b.stride() == torch.empty_like(a).contiguous(memory_format=layout).stride()


def test_target_check_warns_once_on_another_device():
    m = torch.nn.Module()
    with pytest.warns(UserWarning, match="generated for cuda and runs on cpu"):
        rt._check_target(m, torch.zeros(1), "NET", "cuda")
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rt._check_target(m, torch.zeros(1), "NET", "cuda")      # once only
