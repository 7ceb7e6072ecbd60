"""AWS's public DNS for the emulator's Elastic IPs, written as a hosts file.

The test bed binds this file over /etc/hosts in the mount namespace of each function process
it starts (tests/src/runtime_api.rs), so a function that resolves a public name gets what it
would on AWS and nothing from this machine's own resolver configuration.

An Elastic IP's public DNS name resolves, from outside AWS, to the address:
ec2-a-b-c-d.compute-1.amazonaws.com in us-east-1 and ec2-a-b-c-d.<region>.compute.amazonaws.com
elsewhere ("DNS attributes for your VPC", Amazon VPC User Guide). A Lambda function that is not
connected to a VPC resolves names as the internet does.
"""

from __future__ import annotations

import threading
from typing import Any

from moto.ec2.models.elastic_ip_addresses import ElasticAddressBackend

_lock = threading.Lock()
_path: list[str] = []
# name -> address, for the addresses allocated now
_published: dict[str, str] = {}
# name -> address (or None: no answer), set by a test to play a name that leads elsewhere
_pinned: dict[str, str | None] = {}


def public_name(region: str, address: str) -> str:
    dashed = address.replace(".", "-")
    if region == "us-east-1":
        return f"ec2-{dashed}.compute-1.amazonaws.com"
    return f"ec2-{dashed}.{region}.compute.amazonaws.com"


def _write() -> None:
    if not _path:
        return
    entries = dict(_published)
    entries.update(_pinned)
    lines = ["127.0.0.1 localhost"]
    lines += [f"{address} {name}" for name, address in sorted(entries.items()) if address]
    # Truncated and written in place: the bind mounts hold this inode, not the name.
    with open(_path[0], "w") as hosts:
        hosts.write("\n".join(lines) + "\n")


def pin(name: str, address: str | None) -> None:
    """Makes `name` resolve to `address` (None: to nothing), whatever was allocated."""
    with _lock:
        _pinned[name] = address
        _write()


_original_allocate = ElasticAddressBackend.allocate_address
_original_release = ElasticAddressBackend.release_address


def _allocate(self: Any, *args: Any, **kwargs: Any) -> Any:
    made = _original_allocate(self, *args, **kwargs)
    with _lock:
        _published[public_name(self.region_name, made.public_ip)] = made.public_ip
        _write()
    return made


def _release(self: Any, address: str | None = None, allocation_id: str | None = None) -> None:
    gone = [
        eip.public_ip
        for eip in self.addresses
        if (address and eip.public_ip == address) or (allocation_id and eip.allocation_id == allocation_id)
    ]
    _original_release(self, address=address, allocation_id=allocation_id)
    with _lock:
        for ip in gone:
            _published.pop(public_name(self.region_name, ip), None)
        _write()


def start(path: str) -> None:
    """Writes the hosts file at `path` and keeps it in step with AllocateAddress and ReleaseAddress."""
    _path.append(path)
    ElasticAddressBackend.allocate_address = _allocate
    ElasticAddressBackend.release_address = _release
    with _lock:
        _write()
