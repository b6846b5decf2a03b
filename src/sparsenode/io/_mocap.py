class Skeleton:  # placeholder until the mocap reader lands
    pass


def read_asf(*args, **kwargs):
    raise NotImplementedError


def read_amc(*args, **kwargs):
    raise NotImplementedError


def read_mocap(*args, **kwargs):
    raise NotImplementedError


def forward_kinematics(*args, **kwargs):
    raise NotImplementedError
