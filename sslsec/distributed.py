"""Data-parallel pre-training under ``torchrun`` (PyTorch DDP: NCCL on GPUs, gloo on CPUs).

``torchrun`` starts one process per GPU (or per CPU worker) and gives each its ``RANK``,
``WORLD_SIZE`` and ``LOCAL_RANK``; :func:`init_from_env` joins them into one process group.
:func:`~sslsec.pretrain.pretrain` then notices the group: every process draws the same global
batch and its views, keeps its own slice, and the loss is computed on the embeddings gathered
from all processes (:func:`gather`), so a run on N processes computes what one process would
on the same batch. Without ``torchrun`` everything here is a no-op (a world of one).
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist
from torch.distributed.nn.functional import all_gather


def world_size() -> int:
    """Number of processes in the group (1 outside ``torchrun``)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    """This process's place in the group (0 outside ``torchrun``)."""
    return dist.get_rank() if world_size() > 1 else 0


def is_main() -> bool:
    """Whether this process writes files and prints (rank 0)."""
    return rank() == 0


def barrier() -> None:
    """Wait for every process (no-op in a world of one)."""
    if world_size() > 1:
        dist.barrier()


def gather(x: torch.Tensor) -> torch.Tensor:
    """``x`` of every process, concatenated in rank order along dim 0, with gradients flowing
    back to each process's own slice (summed over the processes that used it)."""
    if world_size() == 1:
        return x
    # torch.distributed.nn's all-gather: blocking, with a backward pass that gloo supports
    # (all-to-all, then a sum). The functional collectives' asynchronous all-gather it replaces
    # crashed one CPU run under load (glibc: "malloc(): unaligned tcache chunk detected").
    return torch.cat(all_gather(x.contiguous()), 0)


def check_in_sync(module: torch.nn.Module) -> None:
    """Raise ``RuntimeError`` unless every process holds the same parameters as the first
    (after data-parallel training they must agree to the last bit)."""
    if world_size() == 1:
        return
    device = next(module.parameters()).device  # NCCL broadcasts CUDA tensors only
    sums = torch.stack([p.detach().double().sum() for p in module.parameters()]).to(device)
    first = sums.clone()
    dist.broadcast(first, 0)
    if not torch.equal(sums, first):
        raise RuntimeError(f"process {rank()} holds other parameters than process 0 after "
                           "data-parallel training: the gradients were not synchronised")


def init_from_env(device: str = "auto") -> str:
    """Join the process group that ``torchrun`` describes in the environment (``WORLD_SIZE``
    > 1), over NCCL when CUDA is used and gloo otherwise; return the device this process
    trains on (``cuda:LOCAL_RANK`` on GPUs). Outside ``torchrun``, return ``device``."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return device
    cuda = device in ("auto", "cuda") and torch.cuda.is_available()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo")
    if cuda:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        return f"cuda:{local}"
    return "cpu"


def close() -> None:
    """Leave the process group (no-op when none was joined)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
