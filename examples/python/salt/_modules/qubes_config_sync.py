"""Salt execution module: push qubes-config-sync profiles from the config qube.

Install it as ``_modules/qubes_config_sync.py`` in a Salt file root of the config qube
and sync it (``saltutil.sync_modules``); it needs the Python module ``qubes_config_sync``
and a running backend (``qubes-config-syncd``). The backend keeps every guarantee:
files changed in a qube since the last push are conflicts and are never overwritten
unless the state asks for it explicitly, and what reaches a qube is only what the store
holds after review.

    salt-call qubes_config_sync.push git qubes='[work, personal]'
    salt-call qubes_config_sync.sync_state work
    salt-call qubes_config_sync.pending_proposals

The bus comes from the minion option ``qubes_config_sync.bus_address`` (for example
``unix:path=/run/user/1000/bus``); without it, the session bus of the minion's user.
"""

__virtualname__ = "qubes_config_sync"

try:
    import qubes_config_sync as _qcs
except ImportError as _import_error:  # pragma: no cover - reported by __virtual__
    _qcs = None
    _IMPORT_ERROR = str(_import_error)
else:
    _IMPORT_ERROR = ""

try:
    from salt.exceptions import CommandExecutionError
except ImportError:  # outside Salt (tests, plain Python): same contract

    class CommandExecutionError(Exception):
        """Raised when the backend refuses or fails a request."""


def __virtual__():
    """Load only where the Python module is installed."""
    if _qcs is None:
        return (False, f"qubes_config_sync is not installed: {_IMPORT_ERROR}")
    return __virtualname__


def _option(name, default=None):
    # Salt injects __salt__ and __opts__ into loaded modules; plain imports have neither.
    salt = globals().get("__salt__") or {}
    if "config.get" in salt:
        return salt["config.get"](f"qubes_config_sync.{name}", default)
    return (globals().get("__opts__") or {}).get(f"qubes_config_sync.{name}", default)


def _client(bus_address=None):
    address = bus_address or _option("bus_address")
    try:
        return _qcs.ConfigSync(address) if address else _qcs.ConfigSync()
    except _qcs.QubesException as error:
        raise CommandExecutionError(f"cannot reach the qubes-config-sync backend: {error}")


def push(profile, qubes, overwrite=None, bus_address=None, timeout=600):
    """Push PROFILE to QUBES (a list of qube names).

    ``overwrite`` lists ``[qube, path]`` pairs whose local changes may be replaced; any
    other conflict is reported and left untouched. Returns a dict with ``result`` (True
    when every file was written or already up to date), per-file ``files`` and the
    qubes that failed as a whole in ``errors``.
    """
    if isinstance(qubes, str):
        qubes = [q.strip() for q in qubes.split(",") if q.strip()]
    pairs = [tuple(pair) for pair in (overwrite or [])]
    client = _client(bus_address)
    try:
        job = client.push(profile, list(qubes), overwrite=pairs, timeout=float(timeout))
    except _qcs.QubesException as error:
        raise CommandExecutionError(f"push of {profile} failed: {error}")
    files = [
        {"qube": f.qube, "path": f.path, "outcome": f.outcome, "detail": f.detail}
        for f in job.files
    ]
    return {
        "result": job.success,
        "job": job.job,
        "changes": {f["qube"] + ":" + f["path"]: f["outcome"] for f in files
                    if f["outcome"] == "written"},
        "files": files,
        "errors": [{"qube": q, "error": e} for q, e in job.errors],
    }


def sync_state(qube, bus_address=None):
    """The sync state of each profile assigned to QUBE (``in-sync``, ``outdated``, …)."""
    try:
        return _client(bus_address).qube(qube).sync_states()
    except _qcs.QubesException as error:
        raise CommandExecutionError(str(error))


def pending_proposals(bus_address=None):
    """Pending proposals: id, source qube, profile and path (review them in the app)."""
    try:
        return [
            {"id": p.id, "qube": p.source_qube, "profile": p.profile, "path": p.path}
            for p in _client(bus_address).proposals("pending")
        ]
    except _qcs.QubesException as error:
        raise CommandExecutionError(str(error))
