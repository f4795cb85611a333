# Vigil behind a TLS-terminating reverse proxy. The same install steps as `make run`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    VIGIL_DB=/app/var/vigil.db \
    VIGIL_VAPID_KEY=/app/var/vapid.pem

RUN useradd --create-home --uid 10001 vigil
WORKDIR /app

COPY pyproject.toml constraints.txt README.md ./
COPY server server
COPY web web
COPY service-worker service-worker
COPY data data
# Pinned versions, the same command as `make run`.
RUN python -m pip install --quiet -c constraints.txt -e . \
    && mkdir -p /app/var && chown vigil:vigil /app/var

USER vigil
VOLUME ["/app/var"]
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"

# `init` migrates and loads data/ on an empty database, and creates the keys in var/.
CMD ["sh", "-c", "python -m server init && exec python -m server serve --host 0.0.0.0 --port 8000"]
