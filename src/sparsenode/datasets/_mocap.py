def mocap35(*args, **kwargs):  # placeholder until the mocap loader lands
    raise NotImplementedError
