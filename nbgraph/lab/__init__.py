"""nbgraph inside JupyterLab: the jupyter_server extension behind the Lab panel.

Installing nbgraph with its ``lab`` extra puts ``etc/jupyter/jupyter_server_config.d/nbgraph.json``
into the environment, which enables this extension in every ``jupyter lab`` / ``jupyter server``
started from it; the panel itself is the prebuilt federated extension in
``share/jupyter/labextensions/nbgraph`` (built from ``labextension/``).  The routes are in
:mod:`.handlers`; what they return is computed by :mod:`.model`, :mod:`.files` and
:mod:`.runs`, which know nothing about HTTP.
"""

from __future__ import annotations

from typing import Any


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from .app import NbgraphLab

    return [{"module": "nbgraph.lab", "app": NbgraphLab}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "nbgraph"}]
