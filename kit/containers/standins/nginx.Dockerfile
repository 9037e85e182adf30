# Stand-in for nginx:1.27.2-alpine: Debian's nginx, logs to the container's output, the
# configuration at /etc/nginx/nginx.conf, `wget` for health checks.
FROM alvin-standin/debian:bookworm

RUN apt-get update \
    && apt-get install -y nginx-light wget \
    && rm -rf /var/lib/apt/lists/* /etc/nginx/sites-enabled/* \
    && ln -sf /dev/stdout /var/log/nginx/access.log \
    && ln -sf /dev/stderr /var/log/nginx/error.log

EXPOSE 80
STOPSIGNAL SIGQUIT
CMD ["nginx", "-g", "daemon off;"]
