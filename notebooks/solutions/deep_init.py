# EXERCISE deep_init
def relu_init_std(fan_in):
    """The std of N(0, std**2) weights that keeps ReLU activations the same size, layer to layer."""
    return math.sqrt(2 / fan_in)  # He: Var(w) = 2 / fan_in, since ReLU halves the variance
