"""Driving kernels: ``run`` executes a variant with papermill; ``inject`` is the code
that runs *inside* the kernel (it must stay light: no papermill, no networkx)."""
