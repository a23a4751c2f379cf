# Multi-stage build of a static vigie in an empty image.
#   docker build -t vigie .
# The build stage needs gcc and static glibc for cgo (SQLite).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=1 go build -trimpath \
      -tags 'osusergo netgo sqlite_omit_load_extension' \
      -ldflags "-s -w -X main.version=${VERSION} -linkmode external -extldflags -static" \
      -o /out/vigie ./cmd/vigie \
 && mkdir -p /out/data

FROM scratch
COPY --from=build /out/vigie /vigie
COPY --from=build /out/data /data
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
VOLUME /data
EXPOSE 9753
# Inside the container vigie listens on all interfaces; publish the port on
# 127.0.0.1 only (docker-compose.yml does) unless you mean to expose it.
ENTRYPOINT ["/vigie"]
CMD ["run", "--listen", "0.0.0.0:9753", "--data-dir", "/data"]
