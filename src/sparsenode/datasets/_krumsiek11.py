def krumsiek11(*args, **kwargs):  # placeholder
    raise NotImplementedError
