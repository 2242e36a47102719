"""Packages: `PUT` a job's zipped local files once, `GET` whether they are there, use the URI.

`PUT /v1/namespaces/{ns}/packages/{sha256}` with the zip as body stores it (checked against the
digest in the URL) and answers the URI a runtime env names; `GET` on the same path answers the same
without a body, so `park apply` sends an unchanged directory only once.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from park.api.deps import ContextDep, require_token
from park.control.packages import PackageStore, StoredPackage
from park.core.errors import NotFoundError, TooLargeError
from park.core.packages import too_large

router = APIRouter(
    prefix="/v1/namespaces/{namespace}/packages", tags=["packages"], dependencies=[Depends(require_token)]
)


def get_packages(context: ContextDep) -> PackageStore:
    if context.packages is None:
        raise NotFoundError("this Park server stores no packages: pass working_dir as a URI")
    return context.packages


PackagesDep = Annotated[PackageStore, Depends(get_packages)]


def _public(package: StoredPackage) -> dict[str, Any]:
    return {
        "namespace": package.namespace,
        "sha256": package.sha256,
        "uri": package.uri,
        "size": package.size,
    }


async def _body(request: Request, limit: int) -> bytes:
    """The body, refused as soon as it is known to be over the limit (from its header, or as it comes)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise TooLargeError(too_large(f"the package ({declared} bytes)", limit))
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLargeError(too_large("the package", limit))
        chunks.append(chunk)
    return b"".join(chunks)


@router.get("/{sha256}")
def get_package(packages: PackagesDep, namespace: str, sha256: str) -> dict[str, Any]:
    return _public(packages.get(namespace, sha256))


@router.put("/{sha256}", status_code=201)
async def put_package(
    packages: PackagesDep, namespace: str, sha256: str, request: Request, response: Response
) -> dict[str, Any]:
    """201 when stored now, 200 when the namespace already had it."""
    data = await _body(request, packages.limit)
    stored, created = await asyncio.to_thread(packages.put, namespace, sha256, data)
    if not created:
        response.status_code = 200
    return _public(stored)
