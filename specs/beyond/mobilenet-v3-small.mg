# MobileNetV3-Small (Howard et al. 2019), as torchvision's mobilenet_v3_small(): inverted residual
# blocks (1x1 expansion where it widens, depthwise k x k, squeeze-and-excitation with a hard-sigmoid
# gate in most, linear 1x1 projection), ReLU in the first blocks and hard-swish after them, batch norm
# with eps 0.001 and momentum 0.01, and a two-layer head. Dropout is active in training only.
network "MobileNetV3-Small" (size = 224, classes = 1000)
input 3 @ size

unit expand(e, a = hardswish):
    conv e kernel=1 bias=off act=a eps=0.001 momentum=0.01
unit dw(k = 5, stride = 1, a = hardswish):
    conv groups=depthwise kernel=k stride=stride bias=off act=a eps=0.001 momentum=0.01
# squeeze-and-excitation: squeeze to s channels (ReLU), a hard-sigmoid gate per channel
unit se(e, s):
    gap; conv s kernel=1 bn=off; conv e kernel=1 bn=off act=hardsigmoid
    scale in
unit project(cout):
    conv cout kernel=1 bias=off act=none eps=0.001 momentum=0.01
# an SE block (hard-swish): strided, or keeping its shape and adding its input
unit block(cout, e, s, stride = 1):
    expand e; dw stride=stride; se e s=s; project cout
unit blockres(cout, e, s):
    block cout e=e s=s; add in shortcut=none

conv 16 stride=2 bias=off act=hardswish eps=0.001 momentum=0.01  # 112
dw 3 stride=2 a=relu; se 16 s=8; project 16                      # 56
x = expand 72 a=relu; dw 3 stride=2 a=relu; project 24           # 28
expand 88 a=relu; dw 3 a=relu; project 24; add x shortcut=none
block 40 e=96 s=24 stride=2                                      # 14
2 × blockres 40 e=240 s=64
block 48 e=120 s=32; blockres 48 e=144 s=40
block 96 e=288 s=72 stride=2                                     # 7
2 × blockres 96 e=576 s=144
conv 576 kernel=1 bias=off act=hardswish eps=0.001 momentum=0.01
gap; fc 1024 bias=on; act hardswish; dropout 0.2; fc classes
