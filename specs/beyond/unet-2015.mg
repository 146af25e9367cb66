# U-Net (Ronneberger et al. 2015), the original: unpadded 3x3 convs + ReLU (no batch norm), 2x2 max
# pools, 2x2 up-convolutions that halve the channels, skips centre-cropped to the upsampled grid and
# concatenated, and a 1x1 conv to 2 class maps: a 572x572 tile gives a 388x388 segmentation.
network "U-Net-2015" (size = 572, w = 64, classes = 2)
input 1 @ size

unit twice(width):
    2 × conv width pad=0 bn=off

e1 = twice w                                            # 568
pool
e2 = twice 2w                                           # 280
pool
e3 = twice 4w                                           # 136
pool
e4 = twice 8w                                           # 64
pool
twice 16w                                               # 28
upconv 8w bn=off relu=off; concat e4 crop=on; twice 8w  # 52
upconv 4w bn=off relu=off; concat e3 crop=on; twice 4w  # 100
upconv 2w bn=off relu=off; concat e2 crop=on; twice 2w  # 196
upconv w bn=off relu=off; concat e1 crop=on; twice w    # 388
maps classes bn=off
