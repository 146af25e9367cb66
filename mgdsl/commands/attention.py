"""Draw occlusion attention maps for a trained MNIST run (Ke, Maire & Yu, CVPR 2017, Fig. 7): an 8x8
noise occluder slides over the input with stride 2, and seven 3x3 probes on the predicted digit's
bounding box record how much each occluder position changes them (impact >= 0.1 counts). Each
probe's map is normalised, cut into 10 levels and drawn in its own hue over the input."""
from __future__ import annotations

import os
import stat

from ..errors import UsageError

HELP = "occlusion attention maps of a trained MNIST run (paper Fig. 7)"


def configure(p):
    p.add_argument("run_dir", metavar="RUN_DIR", help="the --out folder of `mgdsl train` (an MNIST task)")
    p.add_argument("--image", default="0", metavar="INDEX|PATH",
                   help="a test-set index of the run's task (default 0) or a grey PNG/.npy image")
    p.add_argument("-o", "--output", required=True, metavar="FILE.png", help="where to draw the figure")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    p.add_argument("--seed", type=int, default=0, help="seed of the occluder noise")


MAX_IMAGE_SIDE = 4096                 # an MNIST canvas is tens of pixels; this leaves room for a photo of a digit
MAX_IMAGE_BYTES = 64 << 20


def check_image_file(path: str) -> None:
    """Refuse, before decoding it, an --image that is not a regular file, is over 64 MiB, or says in
    its header that it is larger than 4096 x 4096 (a small PNG can claim billions of pixels)."""
    try:
        st = os.stat(path)
    except OSError:
        raise UsageError(f"--image {path}: no such file", hint="give a test-set index or a PNG file") from None
    if not stat.S_ISREG(st.st_mode):
        raise UsageError(f"--image {path}: not a regular file", hint="give a test-set index or a PNG file")
    if st.st_size > MAX_IMAGE_BYTES:
        raise UsageError(f"--image {path}: {st.st_size / 2**20:,.0f} MiB is too large for an image of a digit "
                         f"(the limit is {MAX_IMAGE_BYTES >> 20} MiB)")
    try:
        if path.endswith(".npy"):
            import numpy as np  # here: `mgdsl attention --help` (every `mgdsl`) needs no numpy
            shape = np.load(path, mmap_mode="r", allow_pickle=False).shape      # the header only
        else:
            from PIL import Image  # here: only an --image file needs it
            with Image.open(path) as im:                                        # the header only
                shape = im.size
    except Exception as e:            # any unreadable file is the user's to fix
        raise UsageError(f"--image {path}: cannot read it as an image ({e})") from None
    if any(side > MAX_IMAGE_SIDE for side in shape[:2]):
        raise UsageError(f"--image {path}: {' x '.join(map(str, shape))} is larger than {MAX_IMAGE_SIDE} x "
                         f"{MAX_IMAGE_SIDE}", hint="crop or shrink it to the digit first")


def run(args) -> int:
    import numpy as np  # here, like the training room: `mgdsl attention --help` needs neither numpy nor torch
    import torch

    from ..train import attention as A  # imports numpy
    from ..train.loop import load_run
    if not args.image.isdigit():
        check_image_file(args.image)          # before the run is loaded
    cfg, net, model, task, device = load_run(args.run_dir, args.device)
    if not task.dense:
        raise UsageError(f"{args.run_dir} was trained on {cfg.task}; attention maps need an MNIST map task")
    target = None
    if args.image.isdigit():
        i, n = int(args.image), task.images("test")
        if i >= n:
            raise UsageError(f"--image {i}: the test set has {n} images")
        img, tgt = task.examples("test", [i])
        image, target = img[0, 0], tgt[0].max(axis=0)
    else:
        image = A.read_image(args.image, task.input_shape[1])

    def forward(batch: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(task.input_transform(batch)).float().to(device)
        with torch.no_grad():
            return torch.sigmoid(model(x)).amax(dim=1).cpu().numpy()

    maps, out, box, centres = A.occlusion_maps(forward, image, seed=args.seed)
    A.figure(args.output, image, out, target, maps, box, centres, f"{net.name} on {cfg.task}, image {args.image}")
    print(f"wrote {args.output}: {len(centres)} probes on the box {box} (y0, x0, y1, x1)")
    return 0
