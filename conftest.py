"""pytest in this repository (``tests/`` and the nbval runs of ``chapters/``): nbval's kernels
talk over Unix sockets of their own.

nbval starts each notebook's kernel on TCP ports that jupyter_client finds by binding and
releasing port 0; two pytest workers that start kernels at the same moment can be handed the
same port, and a client then waits forever on a kernel that is not its own. The chapter runner
avoids this with ``sslsec.run._kernel_config``; the same settings are given to nbval here (with
nbval's own blocking client).
"""

from __future__ import annotations

try:
    import nbval.kernel
except ImportError:  # nbval is a test dependency; without it there is nothing to configure
    nbval = None

if nbval is not None:
    from sslsec.run import _kernel_config

    class _OwnSocketsKernelManager(nbval.kernel.KernelManager):
        def __init__(self, **kwargs):
            super().__init__(config=_kernel_config(client_class=None), **kwargs)

    nbval.kernel.KernelManager = _OwnSocketsKernelManager
