"""Write an OCI image archive from plain tar layers, for `ctr images import` (no registry, no Docker).

    python3 scripts/oci_image.py --name park.local/pause:3.10 --out pause.oci.tar \
        --layer rootfs.tar [--layer more.tar] [--env K=V] [--entrypoint /pause] [--cmd ...]

Layers are uncompressed tars applied in order (the first is usually a root filesystem from mmdebstrap).
`--file SRC:DEST[:MODE]` and `--symlink TARGET:LINK` add one small layer of their own on top. Only the
standard library is used: `up` runs this before any virtualenv exists.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import tarfile
import tempfile
from pathlib import Path

LAYER = "application/vnd.oci.image.layer.v1.tar"
CONFIG = "application/vnd.oci.image.config.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def _digest(path: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest(), path.stat().st_size


def _extra_layer(files: list[str], symlinks: list[str], into: Path) -> Path | None:
    if not files and not symlinks:
        return None
    path = into / "extra-layer.tar"
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for spec in files:
            src, dest, *mode = spec.split(":")
            info = tar.gettarinfo(src, arcname=dest.lstrip("/"))
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            info.mode = int(mode[0], 8) if mode else info.mode
            with open(src, "rb") as f:
                tar.addfile(info, f)
        for spec in symlinks:
            target, link = spec.split(":")
            info = tarfile.TarInfo(link.lstrip("/"))
            info.type, info.linkname, info.mode = tarfile.SYMTYPE, target, 0o777
            tar.addfile(info)
    return path


def build(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(dir=Path(args.out).parent) as tmp:
        work = Path(tmp)
        layers = [Path(p) for p in args.layer]
        extra = _extra_layer(args.file, args.symlink, work)
        if extra is not None:
            layers.append(extra)
        blobs: dict[str, Path] = {}
        layer_descs, diff_ids = [], []
        for layer in layers:
            digest, size = _digest(layer)
            blobs[digest] = layer
            layer_descs.append({"mediaType": LAYER, "digest": digest, "size": size})
            diff_ids.append(digest)
        config = {
            "architecture": "amd64",
            "os": "linux",
            "config": {
                "Env": args.env,
                **({"Entrypoint": args.entrypoint} if args.entrypoint else {}),
                **({"Cmd": args.cmd} if args.cmd else {}),
                "WorkingDir": args.workdir,
                **({"User": args.user} if args.user else {}),
            },
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }
        documents: list[tuple[str, bytes]] = []
        config_bytes = json.dumps(config, sort_keys=True).encode()
        config_digest = "sha256:" + hashlib.sha256(config_bytes).hexdigest()
        documents.append((config_digest, config_bytes))
        manifest = {
            "schemaVersion": 2,
            "mediaType": MANIFEST,
            "config": {"mediaType": CONFIG, "digest": config_digest, "size": len(config_bytes)},
            "layers": layer_descs,
        }
        manifest_bytes = json.dumps(manifest, sort_keys=True).encode()
        manifest_digest = "sha256:" + hashlib.sha256(manifest_bytes).hexdigest()
        documents.append((manifest_digest, manifest_bytes))
        index = {
            "schemaVersion": 2,
            "manifests": [
                {
                    "mediaType": MANIFEST,
                    "digest": manifest_digest,
                    "size": len(manifest_bytes),
                    "annotations": {
                        "io.containerd.image.name": args.name,
                        "org.opencontainers.image.ref.name": args.name.rsplit(":", 1)[-1],
                    },
                }
            ],
        }
        out_tmp = Path(args.out + ".tmp")
        with tarfile.open(out_tmp, "w") as tar:
            _add_bytes(tar, "oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode())
            _add_bytes(tar, "index.json", json.dumps(index).encode())
            for digest, data in documents:
                _add_bytes(tar, "blobs/sha256/" + digest.split(":")[1], data)
            for digest, path in blobs.items():
                tar.add(path, arcname="blobs/sha256/" + digest.split(":")[1])
        out_tmp.replace(args.out)


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", required=True, help="image reference, e.g. park.local/pause:3.10")
    parser.add_argument("--out", required=True, help="the OCI archive to write")
    parser.add_argument("--layer", action="append", default=[], help="an uncompressed tar layer")
    parser.add_argument("--file", action="append", default=[], help="SRC:DEST[:OCTAL_MODE]")
    parser.add_argument("--symlink", action="append", default=[], help="TARGET:LINK")
    parser.add_argument("--env", action="append", default=[], help="K=V")
    parser.add_argument("--entrypoint", nargs="*", default=None)
    parser.add_argument("--cmd", nargs="*", default=None)
    parser.add_argument("--workdir", default="/")
    parser.add_argument("--user", default=None, help="UID[:GID] the container runs as")
    build(parser.parse_args())


if __name__ == "__main__":
    main()
