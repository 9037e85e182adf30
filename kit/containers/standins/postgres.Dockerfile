# Stand-in for postgres:16.4-alpine: Debian's PostgreSQL behind an entrypoint that honours the
# official image's contract (POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB, PGDATA, a first start
# that listens on the socket only, then every address with password authentication).
FROM alvin-standin/debian:bookworm

# the package must not create its own cluster: the entrypoint makes one in PGDATA
RUN mkdir -p /etc/postgresql-common/createcluster.d \
    && echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.d/standin.conf \
    && apt-get update \
    && apt-get install -y postgresql-15 \
    && rm -rf /var/lib/apt/lists/*

ENV PATH=/usr/lib/postgresql/15/bin:$PATH \
    PGDATA=/var/lib/postgresql/data
RUN mkdir -p "$PGDATA" /var/run/postgresql \
    && chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql \
    && chmod 700 "$PGDATA"
COPY postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
RUN chmod 755 /usr/local/bin/docker-entrypoint.sh

VOLUME /var/lib/postgresql/data
EXPOSE 5432
STOPSIGNAL SIGINT
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["postgres"]
