# HRNet-W18-small (Wang et al. 2019, "Deep High-Resolution Representation Learning"), as timm's
# hrnet_w18_small with its classification head. Branches at 56, 28, 14 and 7 pixels live side by side
# as the grids of one pyramid; each stage adds a coarser grid (`grow`), runs two basic residual units
# on every grid, and exchanges information between all grids: each grid plus every other grid brought
# to its size and width (coarser: 1x1 conv + BN, nearest upsampling; finer: stride-2 3x3 convs + BN).
network "HRNet-W18-small" (size = 224, classes = 1000)
input 3 @ size

# ResNet's bottleneck: 1x1, 3x3, 1x1 to 4p channels, a projected shortcut
unit bottleneck(p):
    conv p kernel=1 bias=off
    conv p bias=off
    conv expand=4 kernel=1 bias=off relu=off
    add in shortcut=proj
    relu

# two basic units on every grid, then the exchange between all of them
unit stage():
    2 × res bias=off
    mgconv merge=sum reach=all self=identity down=conv upkernel=1 bn=each bias=off

# the head's fine-to-coarse sum: stride-2 conv of the running sum, plus the next grid of `skip`
unit fold(skip):
    conv expand=2 stride=2
    add skip shortcut=none

section stem
conv 64 stride=2 bias=off; conv 64 stride=2 bias=off  # 56x56
section stage1
bottleneck 32
section stage2
grow 32 bias=off; conv 16 bias=off on finest          # 56x56:16, 28x28:32
stage
section stage3
grow 64 bias=off; stage                               # + 14x14:64
section stage4
grow 128 bias=off; stage                              # + 7x7:128
section head
h = bottleneck 32, 64, 128, 256                       # 128, 256, 512, 1024 channels
use h on finest; 3 × fold h                           # 7x7:1024
conv 2048 kernel=1
fc classes pool=avg
