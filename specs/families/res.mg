# RES-(10n+2) for CIFAR-100 (paper Table 1): a conv, then n basic residual units per section
# (zero-padded shortcut where the width grows), 2x2 max pool after each section, FC on 1x1x512.
network "RES" (n = 2, w = 64, classes = 100)
input 3 @ 32x32

conv w
n × res w
pool
n × res 2w
pool
n × res 4w
pool
n × res 8w
pool
n × res 8w
pool
fc classes
