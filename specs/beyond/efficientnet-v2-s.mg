# EfficientNetV2-S (Tan & Le 2021), as torchvision's efficientnet_v2_s(): fused MBConv blocks (a full
# k x k conv expands, a 1x1 projects; one k x k conv where nothing expands) in the first stages, MBConv
# blocks (1x1 expansion, depthwise 3x3, squeeze-and-excitation, 1x1 projection) after them, SiLU, batch
# norm with eps 0.001. torchvision's stochastic depth and dropout are active in training only.
network "EfficientNetV2-S" (size = 384, classes = 1000)
input 3 @ size

# squeeze-and-excitation on a block whose input was expanded t-fold: squeeze to a quarter of that input
unit se(t):
    gap; conv expand=1/(4*t) kernel=1 bn=off act=silu; conv expand=4*t kernel=1 bn=off act=sigmoid
    scale in
unit fused(cout, t = 4, stride = 1):
    conv expand=t stride=stride bias=off act=silu eps=0.001
    conv cout kernel=1 bias=off act=none eps=0.001
unit mb(cout, t = 4, stride = 1):
    conv expand=t kernel=1 bias=off act=silu eps=0.001
    conv groups=depthwise stride=stride bias=off act=silu eps=0.001
    se t
    conv cout kernel=1 bias=off act=none eps=0.001
# the blocks that keep their shape add their input
unit plainres(cout):
    conv cout bias=off act=silu eps=0.001; add in shortcut=none
unit fusedres(cout, t = 4):
    fused cout t=t; add in shortcut=none
unit mbres(cout, t = 4):
    mb cout t=t; add in shortcut=none

conv 24 stride=2 bias=off act=silu eps=0.001  # 192
2 × plainres 24
fused 48 stride=2; 3 × fusedres 48            # 96
fused 64 stride=2; 3 × fusedres 64            # 48
mb 128 stride=2; 5 × mbres 128                # 24
mb 160 t=6; 8 × mbres 160 t=6
mb 256 t=6 stride=2; 14 × mbres 256 t=6       # 12
conv 1280 kernel=1 bias=off act=silu eps=0.001
gap; dropout 0.2; fc classes
