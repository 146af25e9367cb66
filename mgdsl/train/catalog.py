"""The tasks `mgdsl train` knows, with their sizes: kept free of numpy and torch so that building
the command line (`mgdsl --help`, `mgdsl check`) stays fast."""

# synthetic MNIST task -> (output maps, training images, test images), paper Sec. 4.2-4.3
TASKS = {
    "mnist-seg": (10, 10000, 1000),
    "mnist-spt": (1, 60000, 10000),
    "mnist-rot": (1, 60000, 10000),
    "mnist-aff": (1, 60000, 10000),
    "mnist-sca": (1, 60000, 10000),
    "mnist-tra": (1, 60000, 10000),
}
CIFAR_TASKS = ("cifar10", "cifar100")
TASK_NAMES = tuple(TASKS) + CIFAR_TASKS
