# Stand-in Debian base for every other stand-in: the debootstrap root file system imported as
# alvin-standin/debian-rootfs:bookworm, plus what a container build expects of a Debian image.
FROM alvin-standin/debian-rootfs:bookworm

# Packages never start their daemons during a build (the build runs on the host's network).
RUN printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d \
    && chmod 755 /usr/sbin/policy-rc.d \
    && printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' \
        > /etc/apt/apt.conf.d/90standin \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin

# The build machine's CA bundle: registries are reached through its TLS settings.
COPY ca-certificates.crt /usr/local/share/standin/ca-certificates.crt
ENV LANG=C.UTF-8 \
    SSL_CERT_FILE=/usr/local/share/standin/ca-certificates.crt \
    PIP_CERT=/usr/local/share/standin/ca-certificates.crt
