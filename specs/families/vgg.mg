# VGG-(5n+1) for CIFAR-100 (paper Table 1): n conv-BN-ReLU layers per section, 2x2 max pool after
# each of the 5 sections, then FC on the 1x1x512 map. No dropout.
network "VGG" (n = 3, w = 64, classes = 100)
input 3 @ 32x32

n × conv w
pool
n × conv 2w
pool
n × conv 4w
pool
n × conv 8w
pool
n × conv 8w
pool
fc classes
