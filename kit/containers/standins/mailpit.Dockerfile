# Stand-in for axllent/mailpit: an SMTP catcher on 1025 with the part of Mailpit's HTTP API on
# 8025 that the kit uses (messages, one message, raw source, search, delete, readyz), and the
# `/mailpit readyz` health-check command.
FROM alvin-standin/debian:bookworm

RUN apt-get update \
    && apt-get install -y python3 python3-aiosmtpd \
    && rm -rf /var/lib/apt/lists/*
COPY mailpit.py /mailpit
RUN chmod 755 /mailpit

USER 65534:65534
EXPOSE 1025 8025
ENTRYPOINT ["/mailpit"]
