# One image with every balcony command; agents need Puppet, so the runtime
# is Debian 12 with its puppet-agent (Puppet 7.23).
#
# .git is not copied in, so the version every command reports comes from
#   docker build --build-arg VERSION=$(git describe --tags --dirty) .
# (0.0.0-dev without it).
FROM golang:1.26-bookworm AS build
ARG VERSION=
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-X github.com/balcony-dev/balcony/pkg/version.Version=${VERSION}" -o /out/ ./cmd/...

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends puppet-agent git ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/ /usr/local/bin/
ENTRYPOINT []
