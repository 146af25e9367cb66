# EfficientNet-B0 (Tan & Le 2019), as torchvision's efficientnet_b0(): MBConv blocks (1x1 expansion,
# depthwise k x k, squeeze-and-excitation, linear 1x1 projection), SiLU throughout. torchvision's
# stochastic depth and dropout are active in training only and cost nothing.
network "EfficientNet-B0" (size = 224, classes = 1000)
input 3 @ size

# squeeze-and-excitation on a block whose input was expanded t-fold: squeeze to a quarter of that
# input's channels, then one sigmoid gate per channel scales the grid
unit se(t):
    gap; conv expand=1/(4*t) kernel=1 bn=off act=silu; conv expand=4*t kernel=1 bn=off act=sigmoid
    scale in
# MBConv: expand t-fold, depthwise k x k, SE, project to cout without an activation
unit mb(cout, t = 6, k = 3, stride = 1):
    conv expand=t kernel=1 bias=off act=silu
    conv groups=depthwise kernel=k stride=stride bias=off act=silu
    se t
    conv cout kernel=1 bias=off act=none
unit mbres(cout, k = 3):
    mb cout k=k
    add in shortcut=none

conv 32 stride=2 bias=off act=silu      # 112
conv groups=depthwise bias=off act=silu; se 1; conv 16 kernel=1 bias=off act=none
mb 24 stride=2; mbres 24                # 56
mb 40 k=5 stride=2; mbres 40 k=5        # 28
mb 80 stride=2; 2 × mbres 80            # 14
mb 112 k=5; 2 × mbres 112 k=5
mb 192 k=5 stride=2; 3 × mbres 192 k=5  # 7
mb 320
conv 1280 kernel=1 bias=off act=silu
gap; dropout 0.2; fc classes
