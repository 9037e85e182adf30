# Stand-in for redis:7.4.1-alpine: Debian's Redis, run as the redis user, protected mode off as
# in the official image (the compose network is the boundary), `redis-cli` on PATH.
FROM alvin-standin/debian:bookworm

RUN apt-get update \
    && apt-get install -y redis-server redis-tools \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /data \
    && chown redis:redis /data
COPY redis-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
RUN chmod 755 /usr/local/bin/docker-entrypoint.sh

WORKDIR /data
VOLUME /data
EXPOSE 6379
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["redis-server"]
