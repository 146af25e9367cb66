# ShuffleNetV2 x0.5 (Ma et al. 2018), as torchvision's shufflenet_v2_x0_5(): units that split the
# channels in two, work on one half (1x1, depthwise 3x3, 1x1) and concatenate it back beside the other,
# then shuffle the channels; a strided unit works on both halves of its input instead, both strided.
network "ShuffleNetV2-x0.5" (size = 224, classes = 1000)
input 3 @ size

unit branch(c, stride = 1):
    conv c/2 kernel=1 bias=off; conv groups=depthwise stride=stride bias=off relu=off
    conv c/2 kernel=1 bias=off
unit down(c):
    b1 = conv groups=depthwise stride=2 bias=off relu=off; conv c/2 kernel=1 bias=off
    use in
    b2 = branch c stride=2
    use b1; concat b2; shuffle 2
unit keep(c):
    b = chunk 2 take=2; branch c
    use in; chunk 2; concat b; shuffle 2

conv 24 stride=2 bias=off; pool kernel=3 stride=2 pad=1  # 56
down 48; 3 × keep 48                                     # 28
down 96; 7 × keep 96                                     # 14
down 192; 3 × keep 192                                   # 7
conv 1024 kernel=1 bias=off
gap; fc classes
