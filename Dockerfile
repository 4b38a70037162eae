# syntax=docker/dockerfile:1
# Multi-stage build of a static berth binary (CGO off: the SQLite driver is
# pure Go). The final image holds the binary, CA roots, git-free: berth reads
# sites repos with go-git.
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
ENTRYPOINT ["/usr/local/bin/berth"]
CMD ["validate", "/repo"]
