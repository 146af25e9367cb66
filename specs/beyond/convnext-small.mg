# ConvNeXt-S (Liu et al. 2022, "A ConvNet for the 2020s"), as torchvision's convnext_small(): a 4x4
# stride-4 patchify stem, four stages of {3, 3, 27, 3} blocks at widths 96, 192, 384 and 768, each
# stage after the first entered through a layer norm and a 2x2 stride-2 conv. A block: 7x7 depthwise
# conv, layer norm over the channels, a 4x wide pair of linear layers (1x1 convs) with GELU, a layer
# scale and stochastic depth on the residual branch. torchvision raises the drop probability linearly
# from 0 to 0.4 over the 36 blocks; here each stage uses its blocks' mean (training only, no cost).
network "ConvNeXt-S" (size = 224, classes = 1000)
input 3 @ size

unit block(c, p):
    conv c kernel=7 groups=depthwise bn=off relu=off; ln eps=0.000001
    conv 4*c kernel=1 bn=off act=gelu; conv c kernel=1 bn=off relu=off
    layerscale; droppath p
    add in shortcut=none
unit down(c):
    ln eps=0.000001; conv c kernel=2 stride=2 pad=0 bn=off relu=off

conv 96 kernel=4 stride=4 pad=0 bn=off relu=off; ln eps=0.000001  # 56
3 × block 96 p=0.011
down 192; 3 × block 192 p=0.046                                   # 28
down 384; 27 × block 384 p=0.217                                  # 14
down 768; 3 × block 768 p=0.389                                   # 7
gap; ln eps=0.000001; fc classes
