"""placeholder"""
class SparseNODE: pass
