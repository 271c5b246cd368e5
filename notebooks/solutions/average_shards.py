# EXERCISE average_shards
def average_gradients_by_hand(replicas):
    """Each replica (one per simulated process) holds its own shard's gradients in p.grad.

    Replace every p.grad, in every replica, by the gradient of the global batch: what an
    all-reduce over the processes, followed by the right scaling, gives every process.
    """
    for same_parameter in zip(*(replica.parameters() for replica in replicas)):
        mean = sum(p.grad for p in same_parameter) / len(replicas)
        for p in same_parameter:
            p.grad = mean.clone()
