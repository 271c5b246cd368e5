# EXERCISE standardize
class Standardize(nn.Module):
    """y = (x - mean) / (std + eps) per feature, with the training data's mean and std."""

    def __init__(self, data, eps=1e-5):
        super().__init__()
        # Buffers: saved by state_dict() and moved by .to(device), but never trained.
        self.register_buffer("mean", data.mean(0))
        self.register_buffer("std", data.std(0))
        self.eps = eps

    def forward(self, x):
        return (x - self.mean) / (self.std + self.eps)
