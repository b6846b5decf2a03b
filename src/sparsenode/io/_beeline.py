def read_beeline(*args, **kwargs):  # placeholder until the BEELINE reader lands
    raise NotImplementedError


def read_ranked_edges(*args, **kwargs):
    raise NotImplementedError
