# syntax=docker/dockerfile:1
# Multi-stage build of a static berth binary (CGO off: the SQLite driver is
# pure Go). The final image holds the binary and CA roots, no git: berth
# reads sites repos with go-git. The entry point runs the daemon.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/berth ./cmd/berth

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/berth /usr/local/bin/berth
USER nonroot:nonroot
# The state directory holds the clone of the sites repo, the inventory, run
# history and generated secrets: keep it on a volume.
VOLUME ["/var/lib/berth"]
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/berth"]
# Set the repo and credentials with flags, e.g.
#   docker run -v berth:/var/lib/berth -v /etc/berth:/etc/berth:ro berth \
#     serve --repo https://git.example.com/ops/sites.git --git-token-file /etc/berth/git.token ...
CMD ["serve", "--repo", "/repo", "--state-dir", "/var/lib/berth", "--listen", ":8080", "--log-format", "json"]
