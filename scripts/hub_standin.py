#!/usr/bin/env python3
"""A Hugging Face hub stand-in on 127.0.0.1, for tests: the resolve layout with the hub's headers.

`GET|HEAD /{repo}/resolve/{revision}/{file}` answers as the hub does:
- small files: 200 with `X-Repo-Commit` and `ETag` (the git blob hash);
- large files (`*.safetensors`, `*.bin`): 302 to `/cdn/{sha256}` on another host (127.0.0.2, as the hub
  sends them to its CDN) with `X-Repo-Commit`, `X-Linked-Etag` (the sha256) and `X-Linked-Size`; `/cdn/...`
  serves the bytes and honours `Range: bytes=N-` (206);
- 404 with `X-Error-Code` `RepoNotFound`, `RevisionNotFound` or `EntryNotFound`;
- `bert-wgpu-tests/private`: 401 (`RepoNotFound`, as the hub answers a caller without access) unless the
  request carries `Authorization: Bearer hf_standin_token`;
- `bert-wgpu-tests/gated`: 403 (`GatedRepo`);
- `bert-wgpu-tests/flaky`: the first download of its weights stops halfway (the connection is closed);
- `bert-wgpu-tests/pytorch-only`: config, vocab and a `pytorch_model.bin`, no safetensors;
- `tiny-bert-sharded`: the weights in two shards with `model.safetensors.index.json`, `vocab.txt` only.
`GET /_log` returns the requests so far as a JSON list of `[method, path, range]`. Every answer carries
the hub's CORS headers, so that pages on another origin can load from it.

Only the standard library. Run by the tests (prints its address, then serves until stdin closes):

    python3 scripts/hub_standin.py
"""
import hashlib
import http.server
import json
import struct
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "tests" / "fixtures" / "tiny-bert"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
SHARDED_COMMIT = "89abcdef0123456789abcdef0123456789abcdef"
TOKEN = "hf_standin_token"
LARGE = (".safetensors", ".bin")
EXPOSED = "X-Repo-Commit, X-Linked-Etag, X-Linked-Size, ETag, X-Error-Code, Content-Range"


def tiny_files():
    return {p.name: p.read_bytes() for p in sorted(TINY.iterdir()) if p.is_file()}


def split_safetensors(data, parts=2):
    """A safetensors file split into `parts` shards (tensors in stored order) and the index naming them, as
    `save_pretrained` shards large models. Only the standard library: the format is an 8-byte header length,
    a JSON header of offsets, then the bytes."""
    size = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + size])
    body = data[8 + size:]
    names = sorted((n for n in header if n != "__metadata__"), key=lambda n: header[n]["data_offsets"][0])
    step = -(-len(names) // parts)
    files, weight_map = {}, {}
    for i in range(parts):
        shard = f"model-{i + 1:05d}-of-{parts:05d}.safetensors"
        part_header, chunks, offset = {"__metadata__": {"format": "pt"}}, [], 0
        for name in names[i * step:(i + 1) * step]:
            start, end = header[name]["data_offsets"]
            part_header[name] = {**header[name], "data_offsets": [offset, offset + end - start]}
            chunks.append(body[start:end])
            offset += end - start
            weight_map[name] = shard
        encoded = json.dumps(part_header, separators=(",", ":")).encode()
        encoded += b" " * (-len(encoded) % 8)
        files[shard] = struct.pack("<Q", len(encoded)) + encoded + b"".join(chunks)
    index = {"metadata": {"total_size": len(body)}, "weight_map": weight_map}
    files["model.safetensors.index.json"] = json.dumps(index, indent=2).encode()
    return files


def sharded_files():
    """tiny-bert's weights in two shards with their index; vocab.txt as the only tokenizer file."""
    tiny = tiny_files()
    files = split_safetensors(tiny["model.safetensors"])
    for name in ["config.json", "vocab.txt", "tokenizer_config.json"]:
        files[name] = tiny[name]
    return files


def default_repos():
    """repo id -> (commit, {file: bytes}); each repository answers at `main`, `v1` and its commit."""
    tiny = tiny_files()
    pytorch_only = {n: b for n, b in tiny.items() if n in ("config.json", "vocab.txt")}
    pytorch_only["pytorch_model.bin"] = b"PK\x03\x04 not read"
    return {
        "bert-wgpu-tests/tiny-bert": (COMMIT, tiny),
        "bert-wgpu-tests/private": (COMMIT, tiny),
        "bert-wgpu-tests/gated": (COMMIT, tiny),
        "bert-wgpu-tests/flaky": (COMMIT, tiny),
        "bert-wgpu-tests/pytorch-only": (COMMIT, pytorch_only),
        "tiny-bert-sharded": (SHARDED_COMMIT, sharded_files()),
    }


def git_blob_hash(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def make_handler(repos, cdn):
    """`cdn`: a one-element list, filled with the CDN's `host:port` once it listens."""
    blobs = {hashlib.sha256(d).hexdigest(): d for _, files in repos.values() for d in files.values()}
    log = []
    dropped = set()

    class Hub(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def end_headers(self):
            # As the hub: readable from any page (the browser tests load from here).
            self.send_header("Access-Control-Allow-Origin", "*")
            self.send_header("Access-Control-Expose-Headers", EXPOSED)
            super().end_headers()

        def reply(self, status, headers=(), body=b"", send_body=True):
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if send_body:
                self.wfile.write(body)

        def error(self, status, code):
            self.reply(status, [("X-Error-Code", code)])

        def serve_blob(self, name, send_body):
            flaky = name.startswith("flaky/")
            sha = name.removeprefix("flaky/")
            data = blobs.get(sha)
            if data is None:
                return self.reply(404)
            start = 0
            ranged = self.headers.get("Range", "")
            if ranged.startswith("bytes=") and ranged.endswith("-"):
                start = int(ranged[len("bytes="):-1])
            status = 206 if start else 200
            headers = [("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")] if start else []
            part = data[start:]
            # The flaky repository's weights: the first full download stops halfway.
            if send_body and not start and flaky and sha not in dropped:
                dropped.add(sha)
                self.send_response(200)
                self.send_header("Content-Length", str(len(part)))
                self.end_headers()
                self.wfile.write(part[: len(part) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self.reply(status, headers, part, send_body)

        def answer(self, send_body):
            log.append([self.command, self.path, self.headers.get("Range")])
            if self.path == "/_log":
                return self.reply(200, [("Content-Type", "application/json")], json.dumps(log).encode())
            if self.path.startswith("/cdn/"):
                return self.serve_blob(self.path[len("/cdn/"):], send_body)
            repo, sep, rest = self.path.lstrip("/").partition("/resolve/")
            if not sep or repo not in repos:
                return self.error(404, "RepoNotFound")
            if repo.endswith("/private") and self.headers.get("Authorization") != f"Bearer {TOKEN}":
                return self.error(401, "RepoNotFound")
            if repo.endswith("/gated"):
                return self.error(403, "GatedRepo")
            commit, files = repos[repo]
            revision, _, name = rest.partition("/")
            if revision not in ("main", "v1", commit):
                return self.error(404, "RevisionNotFound")
            if name not in files:
                return self.error(404, "EntryNotFound")
            data = files[name]
            if name.endswith(LARGE):
                sha = hashlib.sha256(data).hexdigest()
                return self.reply(302, [
                    ("X-Repo-Commit", commit),
                    ("X-Linked-Etag", f'"{sha}"'),
                    ("X-Linked-Size", str(len(data))),
                    ("Location", f"http://{cdn[0]}/cdn/{'flaky/' if repo.endswith('/flaky') else ''}{sha}"),
                ], send_body=False)
            self.reply(200, [("X-Repo-Commit", commit), ("ETag", f'"{git_blob_hash(data)}"')], data, send_body)

        def do_HEAD(self):
            self.answer(False)

        def do_GET(self):
            self.answer(True)

        def log_message(self, *args):
            pass

    return Hub


def start(repos=None):
    """Starts the hub (127.0.0.1) and its CDN (127.0.0.2) in threads; returns the hub's server (its port:
    `server.server_port`)."""
    cdn = [None]
    handler = make_handler(repos or default_repos(), cdn)
    servers = [http.server.ThreadingHTTPServer((host, 0), handler) for host in ("127.0.0.1", "127.0.0.2")]
    cdn[0] = f"127.0.0.2:{servers[1].server_port}"
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    return servers[0]


def main():
    server = start()
    print(f"http://127.0.0.1:{server.server_port}", flush=True)
    sys.stdin.read()
    server.shutdown()


if __name__ == "__main__":
    main()
