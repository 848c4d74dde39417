"""Several serving processes behind one pair of ports (``--rest_workers`` / ``--grpc_workers``).

Python runs one front end per core, so a server that must use more cores runs more
processes. :mod:`ovserve.cluster.supervisor` starts them and keeps them running;
:mod:`ovserve.cluster.link` is each worker's line to the supervisor, over which model
control calls (config reload, load / unload, TF Serving reload) reach every worker and a
``/metrics`` scrape gathers every worker's counts (:mod:`ovserve.cluster.control`).
Nothing here imports OpenVINO, gRPC or the HTTP server: the supervisor stays small.
"""

from ovserve.cluster.link import PeerLink, Reply
from ovserve.cluster.worker import WorkerSeat, worker_seat_from_env

__all__ = ["PeerLink", "Reply", "WorkerSeat", "worker_seat_from_env"]
