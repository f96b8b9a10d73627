"""A Papermill engine that keeps one kernel per process and resets it between notebooks.

Starting a kernel costs about 0.6 s and importing pandas, DuckDB, scikit-learn and matplotlib in it
about as much again; a term run executes hundreds of notebooks. ``engine_name="workbench"`` keeps
the kernel of the first notebook alive in the calling process and, before each further notebook,
clears the user namespace (``%reset -f``), closes figures, returns to the working directory and
restarts the execution count, so each notebook starts from a clean namespace while the imported
modules stay warm. The notebooks themselves are plain: ``papermill`` with its default engine runs
them unchanged.

``deadline`` (seconds, per notebook) is a real per-notebook timeout: each cell may only use the
time the notebook has left; when it runs out the kernel is interrupted and the notebook fails with
a ``NotebookTimeout`` error in the cell that was running.
"""
from __future__ import annotations

import time
from pathlib import Path

from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine, papermill_engines
from papermill.utils import merge_kwargs, remove_args

RESET = """\
import sys as _sys
if "matplotlib.pyplot" in _sys.modules:
    _sys.modules["matplotlib.pyplot"].close("all")
get_ipython().run_line_magic("reset", "-f")
__import__("os").chdir({cwd!r})
get_ipython().execution_count = 1
__import__("gc").collect()
"""


RESET_TIMEOUT = 30   # seconds: a kernel that cannot even reset is replaced


class _Client(PapermillNotebookClient):
    """Runs the reset code (without history) before the notebook's first cell when the kernel is reused."""

    reset_code: str | None = None

    def papermill_execute_cells(self):
        if self.reset_code:
            msg_id = self.kc.execute(self.reset_code, store_history=False, silent=True)
            timeout, self.timeout = self.timeout, RESET_TIMEOUT
            try:
                reply = self.wait_for_reply(msg_id)
            finally:
                self.timeout = timeout
            if reply is None or reply["content"].get("status") != "ok":
                raise RuntimeError(f"could not reset the reused kernel: {reply and reply['content']}")
        super().papermill_execute_cells()


class WorkbenchEngine(NBClientEngine):
    """nbclient engine with a kernel reused across notebooks in this process (see the module doc)."""

    _km = None            # the live kernel manager of this process
    _kernel_name = None
    notebooks_run = 0     # notebooks executed on the current kernel

    @classmethod
    def shutdown(cls) -> None:
        km, cls._km, cls.notebooks_run = cls._km, None, 0
        if km is not None:
            try:
                from jupyter_core.utils import run_sync
                if km.has_kernel:
                    run_sync(km.shutdown_kernel)(now=True)
            except Exception:  # noqa: BLE001 - best effort at exit
                pass
            import shutil
            shutil.rmtree(Path(km.ip).parent, ignore_errors=True)

    @classmethod
    def execute_managed_notebook(cls, nb_man, kernel_name, log_output=False, stdout_file=None, stderr_file=None,
                                 start_timeout=60, execution_timeout=None, deadline=None, kernel_cwd=None, **kwargs):
        kwargs = remove_args(["input_path", "timeout", "startup_timeout"], **kwargs)
        if cls._km is not None and (cls._kernel_name != kernel_name or not _alive(cls._km)):
            cls.shutdown()
        final = merge_kwargs(kwargs, timeout=execution_timeout, startup_timeout=start_timeout, kernel_name=kernel_name,
                             log=_log(), log_output=log_output, stdout_file=stdout_file, stderr_file=stderr_file)
        if deadline:
            end = time.monotonic() + float(deadline)
            final["timeout_func"] = lambda cell: max(1.0, end - time.monotonic())
            final["interrupt_on_timeout"] = True
            final["error_on_timeout"] = {"ename": "NotebookTimeout",
                                         "evalue": f"the notebook ran longer than its {deadline:g} s limit",
                                         "traceback": [f"NotebookTimeout: the notebook ran longer than its {deadline:g} s limit"]}
        if cls._km is None:
            cls._km, cls._kernel_name = _kernel_manager(kernel_name), kernel_name
        client = _Client(nb_man, km=cls._km, **final)
        client.reset_code = RESET.format(cwd=str(kernel_cwd or ".")) if cls.notebooks_run else None
        try:
            nb = client.execute(cleanup_kc=False)
        except BaseException:
            # the kernel may still be busy (an interrupt it ignored) or hold the notebook's state: replace it
            _stop(client)
            cls.shutdown()
            raise
        _stop(client)
        cls.notebooks_run += 1
        if deadline and time.monotonic() > end:      # a cell was interrupted: do not reuse that kernel
            cls.shutdown()
        return nb


def _stop(client) -> None:
    if client.kc is not None:
        client.kc.stop_channels()
        client.kc = None


def _kernel_manager(kernel_name: str):
    """A kernel on IPC sockets in a private temporary folder: only this user can reach it (TCP on localhost
    is open to every local user, and ipykernel warns about it on every start)."""
    import tempfile

    from jupyter_client.manager import AsyncKernelManager
    folder = Path(tempfile.mkdtemp(prefix="workbench-kernel-"))
    folder.chmod(0o700)
    return AsyncKernelManager(kernel_name=kernel_name, transport="ipc", ip=str(folder / "kernel"))


def _alive(km) -> bool:
    try:
        from jupyter_core.utils import run_sync
        return bool(run_sync(km.is_alive)())
    except Exception:  # noqa: BLE001
        return False


def _log():
    from papermill.log import logger
    return logger


papermill_engines.register("workbench", WorkbenchEngine)
