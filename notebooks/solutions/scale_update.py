# EXERCISE scale_update
def update_scale(scale, tracker, found_inf, growth_factor, backoff_factor, growth_interval):
    """The loss scale and the count of good steps in a row, after one step: (scale, tracker)."""
    if found_inf:  # too large: shrink, and count good steps from 0 again
        return scale * backoff_factor, 0
    if tracker + 1 == growth_interval:  # a whole interval of good steps: try a larger scale
        return scale * growth_factor, 0
    return scale, tracker + 1
