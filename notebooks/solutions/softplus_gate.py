# EXERCISE softplus_gate
class Softplus(mg.Gate):
    """y = log(1 + exp(x))."""

    def forward(self, x):
        self.x = x
        return torch.nn.functional.softplus(x)

    def backward(self, grad_output):
        # dy/dx = e^x / (1 + e^x) = sigmoid(x), which torch computes without overflow
        return (grad_output * torch.sigmoid(self.x),)
