# EXERCISE exact_resume
def capture(model, optimizer, scheduler, loader):
    """Everything that decides what training does next, as plain data (a dict)."""
    return {
        "model": model.state_dict(),  # parameters and buffers (batch norm's statistics)
        "optimizer": optimizer.state_dict(),  # AdamW's running averages and step counts
        "scheduler": scheduler.state_dict(),  # where the schedule is
        "loader": loader.state_dict(),  # the shuffling generator
        "rng": torch.get_rng_state(),  # dropout's masks come from torch's global generator
    }


def restore(saved, model, optimizer, scheduler, loader):
    """Put what `capture` returned back into freshly built objects."""
    model.load_state_dict(saved["model"])
    optimizer.load_state_dict(saved["optimizer"])
    scheduler.load_state_dict(saved["scheduler"])
    loader.load_state_dict(saved["loader"])
    torch.set_rng_state(saved["rng"])


resume = (capture, restore)
