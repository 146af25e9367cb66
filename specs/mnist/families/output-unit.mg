# The output residual unit of the MNIST residual nets (from the released R-PMG code, prnmg.mnist.lua):
# two 1x1 convs with BN and no final ReLU, plus a 1x1 conv + BN projection of the input; its output
# is the per-pixel logit maps.
unit outres(count):
    conv count kernel=1
    conv count kernel=1 relu=off
    add in shortcut=proj bias=on
