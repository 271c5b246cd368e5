# EXERCISE logsumexp_gate
class LogSumExp(mg.Gate):
    """y = log(sum_j exp(x_j)) over the last dimension of x."""

    def forward(self, x):
        m = x.max(dim=-1, keepdim=True).values  # take the largest out: no exponent above 0
        self.y = m.squeeze(-1) + torch.log(torch.exp(x - m).sum(dim=-1))
        self.x = x
        return self.y

    def backward(self, grad_output):
        softmax = torch.exp(self.x - self.y.unsqueeze(-1))  # e^x_k / sum_j e^x_j, stably
        return (grad_output.unsqueeze(-1) * softmax,)
