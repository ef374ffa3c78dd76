"""What went wrong with a DVC transfer: DVC's own error line, classified, plus a hint naming the setting to fix.

Pure functions of DVC's output text and the :class:`~seedbench.ops.remote.Remote`
being used; every message passes through :func:`~seedbench.ops.remote.redact`
so no secret reaches a log.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from seedbench.ops.secrets import redact

if TYPE_CHECKING:  # pragma: no cover - typing only (remote imports this module)
    from seedbench.ops.remote import Remote


_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("dependency", re.compile(r"requires these missing dependencies|pip install ['\"]?dvc\[", re.IGNORECASE)),
    ("bucket", re.compile(
        r"NoSuchBucket|bucket does not exist|ContainerNotFound|container does not exist|"
        r"storage bucket .* does not exist|Bucket .* not found", re.IGNORECASE)),
    ("credentials", re.compile(
        r"InvalidAccessKeyId|SignatureDoesNotMatch|AccessDenied|Access Denied|Forbidden|\b403\b|\b401\b|"
        r"Unable to locate credentials|NoCredentialsError|ExpiredToken|InvalidToken|AuthenticationFailed|"
        r"AuthorizationFailure|Permission denied \(publickey|Authentication failed|invalid_grant|"
        r"could not be authenticated|DefaultCredentialsError", re.IGNORECASE)),
    ("unreachable", re.compile(
        r"Could not connect to the endpoint URL|EndpointConnectionError|Connection refused|ConnectTimeout|"
        r"Connect timeout|Name or service not known|nodename nor servname|Temporary failure in name resolution|"
        r"Cannot connect to host|Connection reset|ServerDisconnected|Connection aborted|Read timeout|"
        r"timed out|No route to host|Network is unreachable|Connection closed", re.IGNORECASE)),
    ("missing", re.compile(
        r"Missing cache files|neither locally nor on remote|do not exist neither|not found on remote|"
        r"Checkout failed for following targets|No file hash info found", re.IGNORECASE)),
    ("folder", re.compile(r"Permission denied|Read-only file system|No space left|No such file or directory",
                          re.IGNORECASE)),
)

_CREDENTIAL_SETTINGS = {
    "s3": "`dvc remote modify --local {n} access_key_id ID` and `dvc remote modify --local {n} secret_access_key KEY` "
          "(or `profile` / `credentialpath`, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment)",
    "gs": "`dvc remote modify --local {n} credentialpath /path/to/service-account.json` "
          "(or GOOGLE_APPLICATION_CREDENTIALS in the environment)",
    "azure": "`dvc remote modify --local {n} connection_string …` (or `account_name` + `account_key`, or "
             "`sas_token`, or AZURE_STORAGE_CONNECTION_STRING in the environment)",
    "ssh": "`dvc remote modify --local {n} user NAME` and `dvc remote modify --local {n} keyfile ~/.ssh/KEY` "
           "(or `ask_password true`)",
}


def classify_failure(output: str) -> str:
    """Kind of a DVC transfer failure: ``credentials``, ``bucket``, ``unreachable``, ``missing``, ``folder``,
    ``dependency`` or ``other``."""
    for kind, pattern in _PATTERNS:
        if pattern.search(output):
            return kind
    return "other"


def dvc_error_line(output: str, max_items: int = 3) -> str:
    """DVC's own error message: its last ``ERROR:`` line, without the ``ERROR:``/``unexpected error -`` prefixes.

    When that line ends with a colon (``Checkout failed for following targets:``),
    the first ``max_items`` lines after it are joined on, then ``(and N more)``.
    """
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [i for i, line in enumerate(lines) if line.startswith("ERROR:")]
    if not errors:
        return lines[-1] if lines else "no output"
    at = errors[-1]
    line = re.sub(r"^unexpected error\s*-\s*", "", re.sub(r"^ERROR:\s*", "", lines[at]))
    if line.endswith(":"):
        items = [x for x in lines[at + 1:] if not x.startswith(("Is your cache", "<http"))]
        more = f" (and {len(items) - max_items} more)" if len(items) > max_items else ""
        line = f"{line} {', '.join(items[:max_items])}{more}"
    return line


def _bucket(url: str) -> str:
    match = re.match(r"^[a-z0-9+.-]+://([^/]+)", url, re.IGNORECASE)
    return match.group(1) if match else url


def hint(kind: str, action: str, remote: Remote) -> str:
    n = remote.name
    if kind == "credentials":
        how = _CREDENTIAL_SETTINGS.get(remote.scheme, "the credential options of `dvc remote modify --local`").format(n=n)
        return (f"the server refused the credentials of remote {n!r}: set them with {how}; "
                "`--local` keeps them in .dvc/config.local, out of git")
    if kind == "bucket":
        bucket = _bucket(remote.url)
        at = f" at {remote.settings['endpointurl']}" if "endpointurl" in remote.settings else ""
        return (f"bucket {bucket!r} (from `url` of remote {n!r}) does not exist{at}: create it on the server "
                f"or point the remote at an existing one: `dvc remote modify {n} url {remote.scheme}://BUCKET/PATH`")
    if kind == "unreachable":
        target = remote.settings.get("endpointurl") or remote.url
        setting = (f"`dvc remote modify {n} endpointurl URL`" if "endpointurl" in remote.settings
                   else f"`dvc remote modify {n} url URL`")
        return (f"remote {n!r} cannot be reached at {target}: check that the server is up and the address is right "
                f"({setting}); then run the same command again — DVC transfers only what is missing, so an "
                f"interrupted {action} loses nothing")
    if kind == "missing":
        return (f"remote {n!r} lacks some outputs, or dvc.lock pins none for them yet: run `dvc push` on the "
                "machine that produced them, rebuild them with `dvc repro`, or pull only some stages "
                f"(`seedbench {action} STAGE…`)")
    if kind == "folder" and remote.scheme == "local":
        return (f"the folder of remote {n!r} ({remote.url}) is not usable: choose a writable one: "
                f"`make setup REMOTE=/path` or `dvc remote modify --local {n} url /path`")
    if kind == "dependency":
        return f"DVC lacks the plugin for {remote.scheme}:// remotes: `pip install dvc-{remote.scheme}` (for S3: `pip install -e '.[s3]'`)"
    return f"see `dvc {action} -v` for DVC's details, and `dvc remote list` / `dvc config -l --show-origin` for the settings"


def explain_failure(action: str, remote: Remote, output: str, secrets: Iterable[str] = ()) -> str:
    """One message for a failed ``dvc ACTION``: which remote, DVC's error, and the setting to fix (redacted)."""
    hidden = (*remote.secret_values, *secrets)
    kind = classify_failure(output)
    message = f"dvc {action} with {remote.describe()} failed: {dvc_error_line(output)} -- hint: {hint(kind, action, remote)}"
    return redact(message, hidden)
