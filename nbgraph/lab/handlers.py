"""REST routes under ``<base_url>nbgraph/api/``: a thin layer over :mod:`.model`, :mod:`.files` and :mod:`.runs`.

Authentication and XSRF are Jupyter's (``APIHandler`` + ``@web.authenticated``): an
unauthenticated call gets 403.  Every error is one JSON line ``{"message": ..., "error": kind}``
with a documented status: 400 bad input (a spec that does not validate, a bad body), 403 a
path outside the server's root, 404 no such spec / run, 409 the build is busy.  Slow work
(reading records, hashing notebooks) runs in a thread so the server keeps answering.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, Callable

from jupyter_server.base.handlers import APIHandler
from tornado import web

from ..errors import BuildBusy, NbgraphError
from . import files, model

_REFUSED = (NbgraphError, model.PathRefused)


class _Base(APIHandler):
    """Root resolution and one-line errors, shared by every route."""

    def initialize(self, runs=None) -> None:
        self.runs = runs

    def about_run(self, run_id: str, answer: Callable[[Any], Any]) -> None:
        """``answer(run)`` as JSON, on the server's loop (where runs change); 404 for an unknown id."""
        run = self.runs.get(run_id)
        if run is None:
            return self.refuse(model.NotFound(f"no run {run_id} in this server"))
        self.finish(json.dumps(answer(run)))

    @property
    def root(self) -> str:
        return self.settings["server_root_dir"]

    def spec_path(self, rel: str | None) -> Path:
        if not rel:
            raise BadRequest("name the spec: ?spec=PATH (relative to the server's root)")
        if not isinstance(rel, str):
            raise BadRequest(f"spec must be a path (a string) relative to the server's root, not {rel!r}")
        return model.resolve(self.root, rel)

    def rel(self, path: Path | None) -> str | None:
        if path is None:
            return None
        try:
            return model.relative(self.root, path)
        except ValueError:
            raise model.OutsideRoot(f"{path}: outside the server's root, so Lab cannot open it; "
                                    "set build_dir to a folder under it") from None

    def body(self) -> dict[str, Any]:
        try:
            data = json.loads(self.request.body or b"{}")
        except ValueError:
            raise BadRequest("the request body is not JSON") from None
        if not isinstance(data, dict):
            raise BadRequest("the request body must be a JSON object")
        return data

    async def answer(self, work: Callable[[], Any], status: int = 200) -> None:
        """Run ``work`` in a thread; write its result as JSON, or its error as one line."""
        try:
            result = await asyncio.to_thread(work)
        except (*_REFUSED, BadRequest) as e:
            return self.refuse(e)
        self.set_status(status)
        self.finish(json.dumps(result, default=str))

    def refuse(self, e: Exception) -> None:
        code = 409 if isinstance(e, BuildBusy) else getattr(e, "status", 400)
        self.set_status(code)
        self.finish(json.dumps({"message": str(e), "error": type(e).__name__}))


class BadRequest(Exception):
    """A request nbgraph cannot read (HTTP 400)."""


class RowsHandler(_Base):
    """GET ?spec=PATH: the rows ``rows`` makes of that spec (``model.status`` or ``model.results``)."""

    def initialize(self, runs, rows: Callable[[Path], Any]) -> None:
        super().initialize(runs)
        self.rows = rows

    @web.authenticated
    async def get(self) -> None:
        await self.answer(lambda: self.rows(self.spec_path(self.get_argument("spec", None))))


class GraphHandler(_Base):
    @web.authenticated
    async def get(self) -> None:
        def work():
            data = model.graph(self.spec_path(self.get_argument("spec", None)))
            data["spec"], data["root"] = self.rel(Path(data["spec"])), self.rel(Path(data["root"]))
            return data
        await self.answer(work)


class SpecsHandler(_Base):
    @web.authenticated
    async def get(self) -> None:
        await self.answer(lambda: {"specs": model.find_specs(self.root, self.get_argument("folder", ""))})


class RunHandler(_Base):
    @web.authenticated
    async def post(self) -> None:
        try:
            data = self.body()
            spec = self.spec_path(data.get("spec"))
            only, force = data.get("only") or [], data.get("force", False)
            if not isinstance(only, list) or not all(isinstance(n, str) for n in only) or not isinstance(force, bool):
                raise BadRequest('"only" must be a list of node names and "force" true or false')
            run = await self.runs.start(spec, only, force, cwd=spec.parent)
        except (*_REFUSED, BadRequest) as e:
            return self.refuse(e)
        self.set_status(202 if run.state == "running" else 200)
        self.finish(json.dumps(run.to_json()))


class RunStateHandler(_Base):
    @web.authenticated
    async def get(self, run_id: str) -> None:
        self.about_run(run_id, lambda run: run.to_json())


class RunStopHandler(_Base):
    @web.authenticated
    async def post(self, run_id: str) -> None:
        self.about_run(run_id, lambda run: {**run.to_json(), "stopping": self.runs.stop(run)})


class OpenHandler(_Base):
    """POST {"spec", "variant"}: a viewing copy of the executed notebook, and its log."""

    @web.authenticated
    async def post(self) -> None:
        def work():
            data = self.body()
            opened = files.executed_copy(self.spec_path(data.get("spec")), str(data.get("variant") or ""), self.rel)
            return {"notebook": self.rel(opened.notebook), "log": self.rel(opened.log)}
        await self.answer(work)


class FromVariantHandler(_Base):
    """POST {"spec", "variant"}: a new notebook beside the node's, starting from that variant's state."""

    @web.authenticated
    async def post(self) -> None:
        def work():
            data = self.body()
            return {"notebook": self.rel(files.new_from_variant(self.spec_path(data.get("spec")),
                                                                str(data.get("variant") or ""), self.rel))}
        await self.answer(work, 201)


class AddHandler(_Base):
    """POST {"spec", "notebook", "parent", "name"?, "grid"?, "params"?}: what ``nbgraph add`` does."""

    @web.authenticated
    async def post(self) -> None:
        def work():
            from ..edit import add_node

            data = self.body()
            spec = self.spec_path(data.get("spec"))
            notebook = model.resolve_file(self.root, str(data.get("notebook") or ""))
            added = add_node(spec, notebook, str(data.get("parent") or ""), grid=list(data.get("grid") or []),
                             params=list(data.get("params") or []), name=data.get("name") or None, cwd=spec.parent)
            return {"name": added.name, "notebook": self.rel(added.notebook), "created": added.created}
        await self.answer(work, 201)


def routes(runs) -> list[tuple]:
    """(pattern, handler, kwargs) relative to the server's base URL."""
    kw = {"runs": runs}
    return [
        (r"nbgraph/api/status", RowsHandler, {**kw, "rows": model.status}),
        (r"nbgraph/api/results", RowsHandler, {**kw, "rows": model.results}),
        (r"nbgraph/api/graph", GraphHandler, kw),
        (r"nbgraph/api/specs", SpecsHandler, kw),
        (r"nbgraph/api/run", RunHandler, kw),
        (r"nbgraph/api/runs/([0-9a-f]+)", RunStateHandler, kw),
        (r"nbgraph/api/runs/([0-9a-f]+)/stop", RunStopHandler, kw),
        (r"nbgraph/api/open", OpenHandler, kw),
        (r"nbgraph/api/from-variant", FromVariantHandler, kw),
        (r"nbgraph/api/add", AddHandler, kw),
    ]
