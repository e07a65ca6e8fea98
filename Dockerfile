# syntax=docker/dockerfile:1
# weir's image: the static `weir` binary, the static `helm` and `kustomize`
# it renders charts and kustomizations with, and `sops` it decrypts
# encrypted Secrets with (in memory), on distroless/static, run as the
# non-root user 65532.
#
#   docker build -t ghcr.io/weir-dev/weir:0.1.0 .
#   docker buildx build --platform linux/amd64,linux/arm64 -t ghcr.io/weir-dev/weir:0.1.0 --push .
#
# The chart (charts/weir) runs it with a read-only root filesystem: Git
# mirrors go to /var/cache/weir and helm's and weir's temporary files to
# /tmp, both emptyDirs.

ARG RUST_VERSION=1.95
ARG HELM_VERSION=v3.22.0
ARG KUSTOMIZE_VERSION=v5.8.2
ARG SOPS_VERSION=v3.13.3

# --- weir, linked statically against musl (libgit2, libssh2, OpenSSL, zlib
# and mimalloc included).
FROM rust:${RUST_VERSION}-alpine AS build
RUN apk add --no-cache build-base cmake perl pkgconf \
      openssl-dev openssl-libs-static zlib-dev zlib-static
ENV OPENSSL_STATIC=1 LIBZ_SYS_STATIC=1
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin weir \
 && cp target/release/weir /weir \
 && ! ldd /weir 2>/dev/null | grep -q '=>'

# --- helm, the official static release, checked against its published digest.
FROM alpine:3 AS helm
ARG HELM_VERSION
ARG TARGETARCH=amd64
RUN wget -q "https://get.helm.sh/helm-${HELM_VERSION}-linux-${TARGETARCH}.tar.gz" \
 && wget -q "https://get.helm.sh/helm-${HELM_VERSION}-linux-${TARGETARCH}.tar.gz.sha256sum" \
 && sha256sum -c "helm-${HELM_VERSION}-linux-${TARGETARCH}.tar.gz.sha256sum" \
 && tar -xzf "helm-${HELM_VERSION}-linux-${TARGETARCH}.tar.gz" \
 && mv "linux-${TARGETARCH}/helm" /helm

# --- kustomize, the official static release, checked against its published
# checksums.
FROM alpine:3 AS kustomize
ARG KUSTOMIZE_VERSION
ARG TARGETARCH=amd64
RUN base="https://github.com/kubernetes-sigs/kustomize/releases/download/kustomize%2F${KUSTOMIZE_VERSION}" \
 && file="kustomize_${KUSTOMIZE_VERSION}_linux_${TARGETARCH}.tar.gz" \
 && wget -q "$base/$file" "$base/checksums.txt" \
 && grep " $file\$" checksums.txt | sha256sum -c - \
 && tar -xzf "$file" \
 && mv kustomize /kustomize

# --- sops, the official static release, checked against its published
# checksums.
FROM alpine:3 AS sops
ARG SOPS_VERSION
ARG TARGETARCH=amd64
RUN base="https://github.com/getsops/sops/releases/download/${SOPS_VERSION}" \
 && file="sops-${SOPS_VERSION}.linux.${TARGETARCH}" \
 && wget -q "$base/$file" "$base/sops-${SOPS_VERSION}.checksums.txt" \
 && grep " $file\$" "sops-${SOPS_VERSION}.checksums.txt" | sha256sum -c - \
 && install -m 0755 "$file" /sops

# --- the image: no shell, no package manager, CA certificates for HTTPS.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /weir /usr/local/bin/weir
COPY --from=helm /helm /usr/local/bin/helm
COPY --from=kustomize /kustomize /usr/local/bin/kustomize
COPY --from=sops /sops /usr/local/bin/sops
ENV WEIR_HELM=/usr/local/bin/helm \
    WEIR_KUSTOMIZE=/usr/local/bin/kustomize \
    WEIR_SOPS=/usr/local/bin/sops \
    HOME=/tmp \
    WEIR_CACHE_DIR=/var/cache/weir
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/weir"]
CMD ["agent"]
