# EXERCISE accumulate
def accumulated_step(model, optimizer, x, y, micro_batches):
    """One optimiser step for the batch (x, y), computed in `micro_batches` equal pieces.

    The step must be the one the whole batch gives: the same weights afterwards as
    `loss = mg.cross_entropy(model(x), y); optimizer.zero_grad(); loss.backward();
    optimizer.step()`, while only one micro-batch is on the tape at a time.
    """
    optimizer.zero_grad()
    for x_part, y_part in zip(x.chunk(micro_batches), y.chunk(micro_batches)):
        loss = mg.cross_entropy(model(x_part), y_part) / micro_batches
        loss.backward()  # adds this micro-batch's share into every p.grad
    optimizer.step()
