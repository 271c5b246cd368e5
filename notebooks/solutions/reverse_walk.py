# EXERCISE reverse_walk
def backward_pass(tape, root):
    """{name: d root / d name} for every name on the tape, from its steps' local derivatives."""
    grads = {root: 1.0}
    for step in reversed(tape):  # every use of a value comes after the step that made it
        upstream = grads.get(step.output, 0.0)
        for name, local in zip(step.inputs, step.local):
            grads[name] = grads.get(name, 0.0) + upstream * local  # accumulate over uses
    return grads
