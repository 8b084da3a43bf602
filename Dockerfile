# The Trado image: one image for every role. The default command runs the API; compose.yaml
# runs the same image as the bridge (`python -m commands.bridge`), the simulator feed
# (`python -m commands.feed simulator`) and the one-shot migrations (`python -m commands.migrate`).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    PATH=/app/.venv/bin:$PATH

# uv from PyPI, the same way scripts/ensure-uv.sh gets it on a bare machine.
RUN pip install "uv>=0.8"

WORKDIR /app

# Dependencies first, so a code change does not reinstall them.
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project

# The code: everything .dockerignore lets through (no tests, services, caches or secrets).
COPY . .

# A non-root user; it owns only .data/ (embedded mode's SQLite, if the image runs without
# DATABASE_URL).
RUN useradd --system --uid 10001 --home-dir /app --no-create-home trado \
    && mkdir -p /app/.data && chown trado: /app/.data
USER trado

# In a container the API listens on every interface, in production mode (JWT_SECRET required;
# no GraphiQL, introspection, /docs or /metrics unless set); compose sets the rest.
ENV HOST=0.0.0.0 \
    PORT=8000 \
    ENVIRONMENT=production
EXPOSE 8000

HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-m", "deploy.healthcheck", "api"]

CMD ["python", "server.py"]
