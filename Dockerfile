# The gateway image: installs exactly what the README's commands install.
FROM python:3.11-slim-bookworm

RUN apt-get update \
    && apt-get install -y --no-install-recommends gnupg openssl \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/imip-gateway
COPY requirements.lock pyproject.toml README.md ./
COPY gateway ./gateway
COPY mime ./mime
COPY crypto ./crypto
COPY store ./store
RUN python -m pip install --no-cache-dir -r requirements.lock \
    && python -m pip install --no-cache-dir --no-deps .

RUN useradd --system --home-dir /var/lib/imip-gateway --create-home imip
USER imip
WORKDIR /var/lib/imip-gateway
COPY --chown=imip gateway.ini /etc/imip-gateway/gateway.ini

EXPOSE 2525 8080
ENTRYPOINT ["imip-gateway", "-c", "/etc/imip-gateway/gateway.ini"]
CMD ["serve"]
