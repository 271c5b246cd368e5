# EXERCISE epoch_loop
def train_epochs(epochs, batches, train_batch, scheduler):
    """Train `epochs` epochs of `batches` batches, each epoch at its scheduled rate."""
    for epoch in range(epochs):
        for batch in range(batches):
            train_batch()
        scheduler.step()  # once per epoch, after it: the next epoch gets the next rate
