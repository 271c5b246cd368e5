# EXERCISE train_step
def train_step(model, optimizer, x, y):
    """Train `model` on one batch (x, y) with cross-entropy; return the batch's loss (a float)."""
    loss = mg.cross_entropy(model(x), y)
    optimizer.zero_grad()  # backward adds to .grad: clear the last batch's gradients first
    loss.backward()
    optimizer.step()
    return loss.item()
