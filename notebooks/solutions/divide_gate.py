# EXERCISE divide_gate
class Divide(mg.Gate):
    """y = a / b."""

    def forward(self, a, b):
        self.a, self.b = a, b
        return a / b

    def backward(self, grad_output):
        need_a, need_b = self.needs_input_grad  # dy/da = 1 / b,  dy/db = -a / b**2
        grad_a = grad_output / self.b if need_a else None
        grad_b = -grad_output * self.a / self.b**2 if need_b else None
        return grad_a, grad_b
