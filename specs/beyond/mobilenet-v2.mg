# MobileNetV2 (Sandler et al. 2018), as torchvision's mobilenet_v2(): inverted residual blocks of a
# 1x1 expansion, a 3x3 depthwise conv and a linear 1x1 projection, ReLU6, shortcuts where shapes match.
network "MobileNetV2" (size = 224, classes = 1000)
input 3 @ size

# expand t-fold, depthwise 3x3, project to cout without an activation
unit block(cout, t = 6, stride = 1):
    conv expand=t kernel=1 bias=off act=relu6
    conv groups=depthwise stride=stride bias=off act=relu6
    conv cout kernel=1 bias=off act=none
unit resblock(cout):
    block cout
    add in shortcut=none

conv 32 stride=2 bias=off act=relu6   # 112
conv groups=depthwise bias=off act=relu6; conv 16 kernel=1 bias=off act=none
block 24 stride=2; resblock 24        # 56
block 32 stride=2; 2 × resblock 32    # 28
block 64 stride=2; 3 × resblock 64    # 14
block 96; 2 × resblock 96
block 160 stride=2; 2 × resblock 160  # 7
block 320
conv 1280 kernel=1 bias=off act=relu6
gap; dropout 0.2; fc classes
