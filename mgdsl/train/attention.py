"""Occlusion attention maps (Ke, Maire & Yu, CVPR 2017, Fig. 6-7; details from the authors'
released saliency code): which input pixels does each part of the output digit depend on?

An 8x8 patch of uniform noise replaces the input at every position of a stride-2 grid (29 x 29 = 841
positions on a 64 px canvas). Seven probes, each a 3x3 output region, sit on the bounding box of the
predicted digit (output >= 0.4): its centre and three points down each of its left and right edges.
For each probe and occluder position, impact = max |occluded output - original output| over the
probe; an impact >= 0.1 adds impact x (occluder mask) to that probe's map."""
from __future__ import annotations

import colorsys
import os

import numpy as np

from ..atomic import write_atomic
from ..errors import UsageError

OCCLUDER, STRIDE, PROBE, THRESHOLD, BOX_LEVEL, LEVELS = 8, 2, 3, 0.1, 0.4, 10


def probes(box: tuple[int, int, int, int]) -> list[tuple[int, int]]:
    """(y, x) centres of the 7 probes on a box (y0, x0, y1, x1), inclusive."""
    y0, x0, y1, x1 = box
    ys = [round(y0 + (y1 - y0) * f) for f in (1 / 6, 1 / 2, 5 / 6)]
    return [((y0 + y1) // 2, (x0 + x1) // 2)] + [(y, x0) for y in ys] + [(y, x1) for y in ys]


def _region(center, size, limit):
    y, x = center
    h = size // 2
    return slice(max(0, y - h), min(limit, y + h + 1)), slice(max(0, x - h), min(limit, x + h + 1))


def occlusion_maps(forward, image: np.ndarray, seed: int = 0, batch: int = 64):
    """`forward`: (N, 1, H, W) images in [0, 1] -> (N, H, W) output probabilities.
    Returns (maps (7, H, W), output (H, W), box, probe centres)."""
    H, W = image.shape
    out = forward(image[None, None])[0]
    ys, xs = np.nonzero(out >= BOX_LEVEL)
    if not len(ys):
        raise UsageError(f"the network predicts no digit pixel (output >= {BOX_LEVEL}) on this image, "
                         "so there is nothing to probe", hint="try another --image or a better-trained run")
    box = (int(ys.min()), int(xs.min()), int(ys.max()), int(xs.max()))
    centres = probes(box)
    regions = [_region(c, PROBE, H) for c in centres]
    positions = [(y, x) for y in range(0, H - OCCLUDER + 1, STRIDE) for x in range(0, W - OCCLUDER + 1, STRIDE)]
    rng = np.random.default_rng(seed)
    maps = np.zeros((len(centres), H, W), np.float64)
    for a in range(0, len(positions), batch):
        chunk = positions[a:a + batch]
        occluded = np.repeat(image[None, None], len(chunk), axis=0).astype(np.float32)
        for k, (y, x) in enumerate(chunk):
            occluded[k, 0, y:y + OCCLUDER, x:x + OCCLUDER] = rng.uniform(0, 1, (OCCLUDER, OCCLUDER))
        diff = np.abs(forward(occluded) - out[None])
        for k, (y, x) in enumerate(chunk):
            for p, (ry, rx) in enumerate(regions):
                impact = float(diff[k, ry, rx].max())
                if impact >= THRESHOLD:
                    maps[p, y:y + OCCLUDER, x:x + OCCLUDER] += impact
    return maps, out, box, centres


def quantise(maps: np.ndarray) -> np.ndarray:
    """Per-probe normalisation to [0, 1], then LEVELS levels (0 = no influence)."""
    top = maps.reshape(len(maps), -1).max(axis=1)[:, None, None]
    norm = np.divide(maps, top, out=np.zeros_like(maps), where=top > 0)
    return np.ceil(norm * LEVELS) / LEVELS


def colour(levels: np.ndarray, image: np.ndarray) -> np.ndarray:
    """RGB picture: the input in grey, each pixel tinted with the hue of its strongest probe."""
    hues = [colorsys.hsv_to_rgb(p / len(levels), 1, 1) for p in range(len(levels))]
    rgb = np.repeat((0.35 * image)[..., None], 3, axis=2)
    best = levels.argmax(axis=0)
    strength = levels.max(axis=0)
    tint = np.array(hues)[best]
    return np.clip(rgb * (1 - strength[..., None]) + tint * strength[..., None], 0, 1)


def figure(path: str, image, output, target, maps, box, centres, title: str = "") -> None:
    import matplotlib  # not at the top: slow to import, and only the figure needs it
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle
    levels = quantise(maps)
    hues = [colorsys.hsv_to_rgb(p / len(centres), 1, 1) for p in range(len(centres))]
    panels = 3 + (target is not None)
    fig, axes = plt.subplots(1, panels, figsize=(3.2 * panels, 3.4))
    axes[0].imshow(image, cmap="gray", vmin=0, vmax=1)
    axes[0].set_title("input")
    axes[1].imshow(output, cmap="gray", vmin=0, vmax=1)
    y0, x0, y1, x1 = box
    axes[1].add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0 + 1, y1 - y0 + 1, fill=False, ec="w", lw=0.8))
    for (y, x), h in zip(centres, hues):
        axes[1].add_patch(Rectangle((x - 1.5, y - 1.5), 3, 3, fill=True, color=h))
    axes[1].set_title("output and probes")
    axes[2].imshow(colour(levels, image))
    axes[2].set_title(f"attention ({LEVELS} levels per probe)")
    if target is not None:
        axes[3].imshow(target, cmap="gray", vmin=0, vmax=1)
        axes[3].set_title("target")
    for ax in axes:
        ax.set_xticks([]), ax.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    write_atomic(path, writer=lambda f: fig.savefig(f, format="png", dpi=110))
    plt.close(fig)


def read_image(path: str, canvas: int) -> np.ndarray:
    """A grey image in [0, 1] from a PNG (or .npy), resized to the canvas."""
    if not os.path.isfile(path):
        raise UsageError(f"--image {path}: no such file", hint="give a test-set index or a PNG file")
    try:
        if path.endswith(".npy"):
            img = np.load(path).astype(np.float32)
        else:
            import matplotlib.image as mpimg  # not at the top: see figure
            img = mpimg.imread(path).astype(np.float32)
    except Exception as e:            # any unreadable file is the user's to fix
        raise UsageError(f"--image {path}: cannot read it as an image ({e})") from None
    if img.ndim == 3:
        img = img[..., :3].mean(axis=2)
    if img.ndim != 2:
        raise UsageError(f"--image {path}: expected a 2-D grey image, got shape {img.shape}")
    if img.max() > 1:
        img = img / 255.0
    if img.shape != (canvas, canvas):
        import torch  # not at the top: the occlusion maps themselves are numpy
        import torch.nn.functional as F
        img = F.interpolate(torch.from_numpy(img)[None, None], size=(canvas, canvas), mode="bilinear",
                            align_corners=False)[0, 0].numpy()
    return np.clip(img, 0, 1)
