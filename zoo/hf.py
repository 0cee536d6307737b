"""``hf://OWNER/NAME[@REVISION]``: a zoo model published as a Hugging Face Hub repository.

The name resolves through ``huggingface_hub.snapshot_download``, so the Hub's cache, ``HF_HOME``,
``HF_HUB_CACHE`` and ``HF_HUB_OFFLINE`` behave as users of the Hub expect; the folder it gives holds
zoo's own weights file, which is then read like any other (checksums verified, never unpickled).
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Optional, Tuple

from .errors import UsageError, ZooError, shown

SCHEME = "hf://"
REPO_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
NEEDS = "the Hugging Face Hub needs huggingface_hub: pip install 'zoo[hub]'"


class HubError(ZooError):
    """The Hub could not give what was asked (offline and not cached, no such repository, no network)."""

    exit_code = 1


def is_hf(text: object) -> bool:
    return isinstance(text, str) and text.startswith(SCHEME)


def parse(spec: str) -> Tuple[str, Optional[str]]:
    """``hf://OWNER/NAME[@REVISION]`` as (repo id, revision or None); a malformed one in one line."""
    rest = spec[len(SCHEME):]
    repo, _, revision = rest.partition("@")
    if not REPO_RE.match(repo) or (_ and not revision.strip()) or any(c.isspace() for c in revision):
        raise UsageError(f"{spec!r} is not a Hub name: write hf://OWNER/NAME or hf://OWNER/NAME@REVISION")
    return repo, revision or None


def check_repo_id(repo: str) -> str:
    if not REPO_RE.match(repo):
        raise UsageError(f"{repo!r} is not a Hub repository: write OWNER/NAME")
    return repo


def hub():
    try:
        import huggingface_hub
    except ImportError:
        raise UsageError(NEEDS) from None
    return huggingface_hub


def reason(exc: BaseException) -> str:
    """An exception of huggingface_hub (or of the network below it) as one short clause."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:300]}" if text else type(exc).__name__


def resolve(spec: str) -> Path:
    """The local folder of ``hf://OWNER/NAME[@REVISION]``: the Hub's cached snapshot, downloaded if need be."""
    repo, revision = parse(spec)
    h = hub()
    from .version import __version__

    try:
        folder = h.snapshot_download(repo, revision=revision, library_name="zoo", library_version=__version__)
    except Exception as exc:  # offline and not cached, no such repository or revision, no network
        offline = h.constants.HF_HUB_OFFLINE
        where = " (HF_HUB_OFFLINE is set and it is not in the Hub cache)" if offline else ""
        raise HubError(f"could not get {spec} from the Hugging Face Hub{where}: {reason(exc)}") from None
    return Path(folder)


def cached_file(folder: Path, name: str, spec: str) -> Path:
    """``folder/name`` of a snapshot that :func:`resolve` gave, checked to be the Hub cache's own: the snapshot
    inside the repository's cache folder (a ref such as ``../..`` leads out of it), the file resolving inside that
    folder (a symlink out of the cache is refused), and a blob named by a SHA-256 (an LFS file's) still holding
    content of that hash (a changed file is refused, as for any zoo weights)."""
    repo_dir = folder.parent.parent
    if folder.parent.name != "snapshots" or not repo_dir.name.startswith("models--"):
        raise HubError(f"{spec}: the Hub cache gave {shown(folder)}, which is not a snapshot of a model repository")
    root = repo_dir.resolve()
    snapshot, target = folder.resolve(), (folder / name).resolve()
    if not snapshot.is_relative_to(root / "snapshots") or not target.is_relative_to(root):
        raise HubError(f"{spec}: {name} in the Hub cache leads outside the repository's cache folder "
                       f"({shown(target)}); refused")
    if target.parent.name == "blobs" and re.fullmatch(r"[0-9a-f]{64}", target.name) and target.is_file():
        digest = hashlib.sha256()
        with open(target, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        if digest.hexdigest() != target.name:
            raise HubError(f"{spec}: the cached {name} no longer matches its SHA-256 (the blob {target.name[:12]}... "
                           f"was changed); delete it from the Hub cache to download it again")
    return folder / name
