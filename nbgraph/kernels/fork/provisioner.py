"""jupyter_client's side of a forked kernel: provisioner, kernel manager, client.

* :class:`ForkProvisioner` (entry point ``nbgraph-fork`` of ``jupyter_client.kernel_provisioners``)
  launches a kernel by asking a zygote to fork one instead of starting a process.  It reuses
  the local provisioner's connection file and ports; ``launch_kernel`` returns when the kernel
  itself says its sockets are bound, so the client connects at once (no reconnect interval,
  no lost IOPub messages).  The exit code comes from the zygote, which reaps the kernel; a
  pidfd tells when the kernel has exited, so nothing polls at 0.1 s intervals.
* :class:`ForkKernelManager` selects that provisioner for its kernel spec and waits for the
  exit event instead of sleeping; its clients are :class:`ReadyKernelClient`, whose
  ``wait_for_ready`` returns when the kernel_info request is idle on IOPub instead of after
  jupyter_client's fixed 0.2 s of IOPub silence.
* nbgraph's papermill engine creates a :class:`ForkKernelManager` for a job with ``fork_from``
  (``kernels.lifecycle.new_kernel_manager``), so the notebook still runs through
  papermill/nbclient unchanged.
"""

from __future__ import annotations

import asyncio
import json
import os
import select
import signal
import socket
import subprocess
import time
from queue import Empty
from typing import Any

from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.connect import KernelConnectionInfo
from jupyter_client.kernelspec import KernelSpec
from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning import KernelProvisionerFactory, LocalProvisioner
from traitlets import Float, Unicode

PROVISIONER_NAME = "nbgraph-fork"
ENTRY_POINT = "nbgraph.kernels.fork.provisioner:ForkProvisioner"


class ForkError(RuntimeError):
    """A zygote could not fork a kernel (gone, refused, or the child failed before binding)."""


class ForkProvisioner(LocalProvisioner):
    """Kernels forked from a zygote holding their parent's state (see the module docstring)."""

    zygote = Unicode("", config=True, help="Path of the zygote's fork socket.")
    launch_timeout = Float(30.0, config=True, help="Seconds to wait for the forked kernel to bind its sockets.")

    pid: int | None = None
    pgid: int | None = None
    _conn: socket.socket | None = None
    _pidfd: int | None = None
    _exit_code: int | None = None
    _exited = False

    @property
    def has_process(self) -> bool:
        return self.pid is not None and not self._exited

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> KernelConnectionInfo:
        if not self.zygote:
            raise ForkError("no zygote to fork from (ForkProvisioner.zygote is not set)")
        env = dict(kwargs.get("env") or os.environ)
        cwd = str(kwargs.get("cwd") or os.getcwd())
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            stdio, fds = _stdio(kwargs)
            conn.connect(self.zygote)
            request = json.dumps({"argv": list(cmd), "env": env, "cwd": cwd, "stdio": stdio}).encode()
            socket.send_fds(conn, [request], fds)
        except OSError as e:
            conn.close()
            raise ForkError(f"cannot reach the zygote at {self.zygote}: {e}") from e
        self._conn = conn
        conn.setblocking(False)
        try:
            await self._until_bound(time.monotonic() + self.launch_timeout)
        except BaseException:
            self._hang_up()  # which makes the zygote kill a half-started kernel
            raise
        self.cwd = cwd
        return self.connection_info

    async def _until_bound(self, deadline: float) -> None:
        bound = False
        while not (bound and self.pid is not None):
            message = await self._receive(deadline - time.monotonic())
            if message is None:
                raise ForkError("the zygote closed the connection before the kernel was ready")
            if "error" in message:
                raise ForkError(f"the forked kernel failed to start: {message['error']}")
            if "exit" in message:
                self._exit_code = message["exit"]
                raise ForkError(f"the forked kernel exited while starting (code {message['exit']})")
            if "pid" in message:
                self.pid = self.pgid = int(message["pid"])
                self._pidfd = os.pidfd_open(self.pid)
                self.process = ForkedProcess(self)
            bound = bound or bool(message.get("bound"))

    async def _receive(self, timeout: float) -> dict[str, Any] | None:
        assert self._conn is not None
        if timeout <= 0:
            raise ForkError(f"the forked kernel did not bind its sockets within {self.launch_timeout:g} s")
        loop = asyncio.get_running_loop()
        try:
            data = await asyncio.wait_for(loop.sock_recv(self._conn, 1 << 16), timeout)
        except asyncio.TimeoutError:
            raise ForkError(f"the forked kernel did not bind its sockets within {self.launch_timeout:g} s") from None
        except OSError:
            return None
        return json.loads(data) if data else None

    def _read_exit(self, timeout: float) -> None:
        """Take the exit code the zygote sends after reaping the kernel (if it still can)."""
        if self._conn is None or self._exit_code is not None:
            return
        deadline = time.monotonic() + timeout
        while True:
            ready, _, _ = select.select([self._conn], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                return
            try:
                data = self._conn.recv(1 << 16)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:  # the zygote died too (and took the kernel with it)
                self._exit_code = -signal.SIGKILL
                return
            message = json.loads(data)
            if "exit" in message:
                self._exit_code = int(message["exit"])
                return

    def _terminated(self) -> bool:
        if self._exited or self._pidfd is None:
            return True
        ready, _, _ = select.select([self._pidfd], [], [], 0)
        return bool(ready)

    async def poll(self) -> int | None:
        if self.pid is None:
            return 0
        if not self._terminated():
            return None
        self._read_exit(timeout=1.0)
        return self._exit_code if self._exit_code is not None else -signal.SIGKILL

    async def wait(self) -> int | None:
        if self.pid is None:
            return 0
        if not self._terminated():
            await _readable(self._pidfd)
        code = await self.poll()
        self._exited = True
        return code

    async def send_signal(self, signum: int) -> None:
        if self.pid is None or self._terminated():
            return
        try:
            os.killpg(self.pid, signum)  # the kernel and whatever it started
        except OSError:
            try:
                signal.pidfd_send_signal(self._pidfd, signum)
            except OSError:
                pass

    async def kill(self, restart: bool = False) -> None:
        await self.send_signal(signal.SIGKILL)

    async def terminate(self, restart: bool = False) -> None:
        await self.send_signal(signal.SIGTERM)

    def _hang_up(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None

    async def cleanup(self, restart: bool = False) -> None:
        self._hang_up()
        await super().cleanup(restart=restart)

    async def get_provisioner_info(self) -> dict[str, Any]:
        info = await super().get_provisioner_info()
        info["zygote"] = self.zygote
        return info


def _stdio(kwargs: dict[str, Any]) -> tuple[dict[str, str], list[int]]:
    """The ``stdout``/``stderr`` launch arguments (as for ``Popen``), as the zygote takes them."""
    stdio: dict[str, str] = {}
    fds: list[int] = []
    for name in ("stdout", "stderr"):
        stream = kwargs.get(name)
        if stream is None:
            continue
        if stream == subprocess.DEVNULL or stream == subprocess.PIPE:  # nobody would read a pipe
            stdio[name] = "devnull"
        elif stream == subprocess.STDOUT:
            stdio[name] = "stdout"
        else:
            stdio[name] = "fd"
            fds.append(stream if isinstance(stream, int) else stream.fileno())
    return stdio, fds


class ForkedProcess:
    """What code written for the local provisioner's ``Popen`` sees of a forked kernel
    (``pid``, ``poll``, ``wait``, ``returncode``): its exit code is the zygote's report."""

    def __init__(self, provisioner: ForkProvisioner) -> None:
        self._provisioner = provisioner
        self.pid = provisioner.pid

    @property
    def returncode(self) -> int | None:
        return self.poll()

    def poll(self) -> int | None:
        p = self._provisioner
        if not p._terminated():
            return None
        p._read_exit(timeout=1.0)
        return p._exit_code if p._exit_code is not None else -signal.SIGKILL

    def wait(self, timeout: float | None = None) -> int:
        p = self._provisioner
        if p._pidfd is not None and not select.select([p._pidfd], [], [], timeout)[0]:
            raise subprocess.TimeoutExpired(f"forked kernel {self.pid}", timeout or 0)
        code = self.poll()
        assert code is not None
        return code


async def _readable(fd: int) -> None:
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    loop.add_reader(fd, lambda: done.done() or done.set_result(None))
    try:
        await done
    finally:
        loop.remove_reader(fd)


class ReadyKernelClient(AsyncKernelClient):
    """Ready as soon as a kernel_info request has been answered and seen idle on IOPub."""

    async def wait_for_ready(self, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (timeout if timeout is not None else float("inf"))
        while True:
            msg_id = self.kernel_info()
            if await self._answered(msg_id, deadline) and await self._idle_on_iopub(msg_id, deadline):
                return
            if not await self._async_is_alive():
                raise RuntimeError("Kernel died before replying to kernel_info")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Kernel didn't respond in {timeout:g} seconds")

    async def _answered(self, msg_id: str, deadline: float) -> bool:
        while True:
            try:
                msg = await self.shell_channel.get_msg(timeout=max(0.01, min(1.0, deadline - time.monotonic())))
            except Empty:
                return False
            if msg["msg_type"] == "kernel_info_reply" and msg["parent_header"].get("msg_id") == msg_id:
                self._handle_kernel_info_reply(msg)
                return True

    async def _idle_on_iopub(self, msg_id: str, deadline: float) -> bool:
        """IOPub is subscribed once this request's idle status arrives; if it was published before
        the subscription took effect, it never will (then the caller asks again)."""
        give_up = min(deadline, time.monotonic() + 0.5)
        while True:
            try:
                msg = await self.iopub_channel.get_msg(timeout=max(0.01, give_up - time.monotonic()))
            except Empty:
                return False
            if (msg["msg_type"] == "status" and msg["content"].get("execution_state") == "idle"
                    and msg["parent_header"].get("msg_id") == msg_id):
                return True


class ForkKernelManager(AsyncKernelManager):
    """A kernel manager whose kernels are forked from the zygote at ``zygote``."""

    zygote = Unicode("", config=True, help="Path of the zygote's fork socket.")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.client_factory = ReadyKernelClient

    async def _async_pre_start_kernel(self, **kw: Any):
        register_provisioner()
        spec = self.kernel_spec
        if spec is not None:
            self._kernel_spec = with_provisioner(spec, self.zygote)
        return await super()._async_pre_start_kernel(**kw)

    async def _async_wait(self, pollinterval: float = 0.1) -> None:
        provisioner = self.provisioner
        if isinstance(provisioner, ForkProvisioner) and provisioner.has_process:
            if not provisioner._terminated():
                await _readable(provisioner._pidfd)
            return
        await super()._async_wait(pollinterval)


def with_provisioner(spec: KernelSpec, zygote: str) -> KernelSpec:
    """A copy of ``spec`` whose kernels are provisioned by forking from ``zygote``."""
    fields = spec.to_dict()
    fields["metadata"] = {**fields.get("metadata", {}),
                          "kernel_provisioner": {"provisioner_name": PROVISIONER_NAME, "config": {"zygote": zygote}}}
    return KernelSpec(resource_dir=spec.resource_dir, **fields)


def register_provisioner() -> None:
    """Make ``nbgraph-fork`` known even where nbgraph's entry points are not installed (a checkout)."""
    from importlib.metadata import EntryPoint

    factory = KernelProvisionerFactory.instance()
    if PROVISIONER_NAME not in factory.provisioners and not factory._check_availability(PROVISIONER_NAME):
        factory.provisioners[PROVISIONER_NAME] = EntryPoint(
            name=PROVISIONER_NAME, value=ENTRY_POINT, group=KernelProvisionerFactory.GROUP_NAME)
