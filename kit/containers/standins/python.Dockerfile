# Stand-in for python:3.11.10-slim-bookworm: Debian's Python 3.11 with venv and pip, `python` and
# `pip` on /usr/local/bin as in the official image.
FROM alvin-standin/debian:bookworm

RUN apt-get update \
    && apt-get install -y python3 python3-venv python3-pip ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && ln -s /usr/bin/python3 /usr/local/bin/python \
    && ln -s /usr/bin/pip3 /usr/local/bin/pip

CMD ["python3"]
