# ovserve's container image. Build it with `make image` (see docs/deployment.md): that writes
# build/image-context/ (ovserve's wheel, the wheels of its runtime dependencies pinned to the
# versions the tests run with, requirements.txt) and runs `docker build` on this file.
#
#   make image                                   # on python:3.11-slim-bookworm
#   make image IMAGE_BASE=my.registry/python:3.11-slim-bookworm
#
# BASE must have Python 3 of the version the wheels were built for (the one of .venv), with
# the venv module, at the same path in both stages.
ARG BASE=python:3.11-slim-bookworm

FROM ${BASE} AS build
COPY build/image-context/ /ctx/
RUN set -eu; \
    want="$(cat /ctx/python-version)"; \
    have="$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')"; \
    if [ "$want" != "$have" ]; then \
      echo "BASE has Python $have; the wheels in build/image-context are for Python $want" >&2; exit 1; \
    fi; \
    python3 -m venv /opt/ovserve; \
    /opt/ovserve/bin/pip install --no-cache-dir --no-index --find-links /ctx/wheels \
      -r /ctx/requirements.txt /ctx/wheels/ovserve-*.whl; \
    /opt/ovserve/bin/pip uninstall -y -q pip setuptools 2>/dev/null || true; \
    rm -rf /opt/ovserve/share
COPY deploy/image/healthcheck.py /opt/ovserve/healthcheck.py

FROM ${BASE}
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
ARG BASE
LABEL org.opencontainers.image.title="ovserve" \
      org.opencontainers.image.description="OpenVINO model server speaking KServe v2 and TensorFlow Serving (REST and gRPC), drop-in for OpenVINO Model Server" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="${BASE}"
# uid/gid 5000 as OVMS's image; its home is /tmp, the one place a read-only container can write
RUN groupadd --gid 5000 ovserve \
    && useradd --uid 5000 --gid 5000 --home-dir /tmp --no-create-home --shell /usr/sbin/nologin ovserve
COPY --from=build /opt/ovserve /opt/ovserve
ENV PATH=/opt/ovserve/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp \
    TMPDIR=/tmp
USER 5000:5000
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD ["/opt/ovserve/bin/python", "/opt/ovserve/healthcheck.py"]
ENTRYPOINT ["ovserve"]
CMD ["--help"]
