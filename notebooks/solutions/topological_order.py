# EXERCISE topological_order
def topological_order(graph, root):
    """The names root depends on (and root), each one after all of its inputs."""
    order, placed = [], set()
    stack = [(root, False)]
    while stack:  # depth first, with a stack of our own instead of recursion
        name, inputs_done = stack.pop()
        if name in placed:
            continue
        if inputs_done:
            placed.add(name)
            order.append(name)
            continue
        stack.append((name, True))
        stack.extend((parent, False) for parent in graph[name] if parent not in placed)
    return order
