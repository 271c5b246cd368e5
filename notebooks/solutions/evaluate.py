# EXERCISE evaluate
def evaluate(model, loader):
    """The fraction of the loader's examples that `model` classifies right (0 to 1)."""
    model.eval()  # dropout off, batch norm on its running statistics
    hits = examples = 0
    with mg.no_grad():  # nothing to record: there is no backward
        for x, y in loader:
            predicted = model(x).value.argmax(dim=1)
            hits += int((predicted == y).sum())
            examples += len(y)
    return hits / examples
