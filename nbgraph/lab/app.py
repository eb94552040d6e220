"""The extension app: registers the routes and interrupts this server's runs when it stops."""

from __future__ import annotations

from jupyter_server.extension.application import ExtensionApp

from .handlers import routes
from .runs import Runs


class NbgraphLab(ExtensionApp):
    """``nbgraph/api/*`` on a Jupyter server (see :mod:`nbgraph.lab.handlers`)."""

    name = "nbgraph.lab"
    load_other_extensions = True

    def initialize_settings(self) -> None:
        self.runs = Runs()

    def initialize_handlers(self) -> None:
        self.handlers.extend(routes(self.runs))

    async def stop_extension(self) -> None:
        await self.runs.stop_all()
