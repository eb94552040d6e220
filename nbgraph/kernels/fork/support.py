"""Whether a child may fork from a zygote: each check returns the reason it may not, or None.

Forking is an optimisation, so every doubt falls back to a fresh kernel (and says why once).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from ...nbfile import kernel_for

IPYKERNEL_MODULES = ("ipykernel_launcher", "ipykernel", "ipykernel.kernelapp")


@dataclass(frozen=True)
class KernelInfo:
    """The kernel a child will run in, as far as forking cares."""

    name: str
    python: str | None = None  # interpreter of an ipykernel kernel
    blocker: str | None = None  # why it cannot fork
    #: the kernel spec's ``env``: a fresh kernel starts with it, so the zygote loads the state with it
    env: tuple[tuple[str, str], ...] = ()


def platform_blocker(platform: str = sys.platform) -> str | None:
    if platform != "linux":
        return f"forking kernels needs Linux (this is {platform})"
    if not hasattr(os, "pidfd_open"):
        return "forking kernels needs Python 3.9+ on Linux 5.3+ (os.pidfd_open)"
    return None


def kernel_name(notebook: str | Path, kernel: str | None) -> str:
    """The kernel papermill will start: the node's, else the notebook's, else python3."""
    return kernel_for(notebook, kernel)


def kernel_info(name: str) -> KernelInfo:
    """Look the kernel up; only an ipykernel kernel started as ``python -m ipykernel_launcher`` forks."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec(name)
    except NoSuchKernel:
        return KernelInfo(name, blocker=f"no kernel named '{name}' is installed")
    language = (spec.language or "").lower()
    if language != "python":
        return KernelInfo(name, blocker=f"kernel '{name}' runs {spec.language or 'an unknown language'}; only Python kernels fork")
    argv = list(spec.argv)
    if not argv or not launched_by_ipykernel(argv):
        return KernelInfo(name, blocker=f"kernel '{name}' is not started with 'python -m ipykernel_launcher'")
    python = argv[0]
    major, minor = sys.version_info[:2]
    if python in ("python", f"python{major}", f"python{major}.{minor}"):
        python = sys.executable  # what jupyter_client does with these names
    env = tuple(sorted((str(k), str(v)) for k, v in (spec.env or {}).items()))
    return KernelInfo(name, python=python, env=env)


def launched_by_ipykernel(argv: list[str]) -> bool:
    """Whether a kernel command line runs ipykernel (``python -m ipykernel_launcher ...``)."""
    return any(a == "-m" and b in IPYKERNEL_MODULES for a, b in zip(argv, argv[1:]))


def fork_blocker(notebook: str | Path, kernel: str | None, platform: str = sys.platform) -> str | None:
    """Why a child of this notebook/kernel cannot fork here, or None if it can."""
    return platform_blocker(platform) or kernel_info(kernel_name(notebook, kernel)).blocker
