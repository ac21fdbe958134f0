"""Cluster fixtures shared by the engine tests."""

from __future__ import annotations


def origin_hosts(n=3, memory="16G", dom0=512, hap=True):
    return [{"name": "blade%d" % i, "memory_mb": memory, "cpus": 8, "dom0_memory_mb": dom0, "hap": hap}
            for i in range(1, n + 1)]


def paper_guests(hvm_every=8):
    """The origin's 30 guests: 10 x 512 MiB, 15 x 1 GiB, 5 x 2 GiB (30 GiB), some of them HVM."""
    sizes = [512] * 10 + [1024] * 15 + [2048] * 5
    return [{"name": "g%02d" % i, "memory_mb": s, "type": "hvm" if hvm_every and i % hvm_every == 0 else "pvh"}
            for i, s in enumerate(sizes)]
