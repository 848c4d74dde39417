"""gRPC server reflection (``grpc.reflection.v1alpha.ServerReflection``), so ``grpcurl list`` /
``describe`` and other reflection clients see every service ovserve serves.

The KServe messages live in a private descriptor pool (see ``scripts/gen_protos.py``), the
TF Serving, health and reflection ones in protobuf's default pool; the reflection service reads
one pool, so :func:`reflection_pool` copies the files of every served service (with their
imports) into a new pool of its own.
"""

from __future__ import annotations

from collections.abc import Iterable

import grpc
from google.protobuf import descriptor_pool
from google.protobuf.descriptor import FileDescriptor, ServiceDescriptor
from grpc_reflection.v1alpha import reflection

#: the reflection service's own name
SERVICE_NAME: str = reflection.SERVICE_NAME


def reflection_pool(services: Iterable[ServiceDescriptor]) -> descriptor_pool.DescriptorPool:
    """A pool holding the file of each service and, first, every file it imports."""
    pool = descriptor_pool.DescriptorPool()
    added: set[str] = set()

    def add(file: FileDescriptor) -> None:
        if file.name in added:
            return
        for dependency in file.dependencies:
            add(dependency)
        pool.AddSerializedFile(file.serialized_pb)
        added.add(file.name)

    for service in services:
        add(service.file)
    return pool


def enable(server: grpc.aio.Server, services: Iterable[ServiceDescriptor]) -> None:
    """Serve reflection on ``server`` for ``services`` (and for the reflection service itself)."""
    own = reflection._reflection_pb2.DESCRIPTOR.services_by_name["ServerReflection"]
    described = [*services, own]
    names = sorted({service.full_name for service in described})
    reflection.enable_server_reflection(names, server, pool=reflection_pool(described))
