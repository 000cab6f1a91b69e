FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY common ./common
COPY ingest ./ingest
COPY workers ./workers
RUN pip install --no-cache-dir .
RUN useradd --create-home smspipe && mkdir -p /var/lib/smspipe/spool && chown -R smspipe /var/lib/smspipe
USER smspipe
EXPOSE 8000
CMD ["smspipe", "ingest", "--port", "8000"]
