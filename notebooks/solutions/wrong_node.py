# EXERCISE wrong_node
def find_wrong_node(ctx):
    """The index of the first node on ctx whose gate fails its own gradient check."""
    for node in ctx:
        if not mg.gradcheck_node(node):
            return node.index
    return None
