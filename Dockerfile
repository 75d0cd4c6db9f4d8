# The gateway: slim Python, installed as a package, run as a non-root user.
#   docker build -t assessment-gateway .
#   docker run -p 8000:8000 assessment-gateway          (sandbox providers, SQLite in /app/data)
# Configuration: GATEWAY_CONFIG=/etc/gateway/gateway.toml (mount it), OTEL_* for tracing.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md app.py ./
COPY providers ./providers
COPY resolvers ./resolvers
COPY sandbox ./sandbox
COPY schema ./schema
COPY server ./server
COPY store ./store
RUN pip install . \
    && useradd --system --uid 10001 --no-create-home --home-dir /app gateway \
    && mkdir -p /app/data \
    && chown gateway /app/data

USER 10001
EXPOSE 8000
# Ready: store reachable, migrations at head, deliverer running.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/ready', timeout=2).status != 200)"]
CMD ["python", "app.py", "--host", "0.0.0.0", "--port", "8000"]
