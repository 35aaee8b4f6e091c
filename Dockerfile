# korqa serving the embedded model (OpenVINO or ONNX Runtime, whichever this CPU runs faster), no torch. KORQA_* configure it.
#   docker build -t korqa . && docker run -p 8000:8000 -e KORQA_API_KEY=change-me korqa
# BASE: any Debian-like image with Python >= 3.11 and its venv module (scripts/container.sh builds one with
# debootstrap where no registry can be reached).
ARG BASE=python:3.11-slim
FROM ${BASE}

RUN python3 -m venv /opt/korqa && useradd --create-home --uid 10001 korqa
ENV PATH=/opt/korqa/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY requirements/serve.txt requirements/serve.txt
RUN pip install --no-cache-dir --disable-pip-version-check -r requirements/serve.txt
COPY pyproject.toml README.md LICENSE ./
COPY korqa korqa
RUN pip install --no-cache-dir --disable-pip-version-check --no-deps --no-build-isolation . 2>/dev/null \
    || pip install --no-cache-dir --disable-pip-version-check --no-deps .

USER korqa
# Inside a container the server listens on every interface; set KORQA_API_KEY (or --api-key) when the port is
# reachable by others: korqa logs a warning without one.
ENV KORQA_HOST=0.0.0.0 KORQA_PORT=8000
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=30s --retries=3 \
    CMD python3 -c "import os, sys, urllib.request; port = os.environ.get('KORQA_PORT', '8000'); \
sys.exit(urllib.request.urlopen('http://127.0.0.1:' + port + '/readyz', timeout=2).status != 200)"
CMD ["korqa", "serve"]
