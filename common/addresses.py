"""Server addresses shown to people without their secrets: PostgreSQL (every form libpq accepts) and HTTP.

Redaction parses the address the way its client does and rebuilds it from the parts it is sure of, instead of
matching a pattern on the raw string: a password holding ``#``, ``/``, ``?`` or ``@`` unencoded, a libpq
``key=value`` string, or an address that does not parse at all never leaks a character of the secret. What
cannot be parsed is shown as a placeholder naming the problem. libpq's URI rules (``fe-connect.c``): the
user part ends at the first ``@`` met before any ``/``; the password is what follows its first ``:``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import quote, unquote

HIDDEN = "***"
#: libpq parameters whose values are shown; any other (password, passfile, sslpassword, options, ...) is hidden.
SHOWN_PARAMETERS = frozenset(
    {"host", "hostaddr", "port", "dbname", "user", "sslmode", "connect_timeout", "application_name"}
    | {"target_session_attrs", "gssencmode", "channel_binding", "client_encoding", "load_balance_hosts"}
)
_HOST = re.compile(r"(?:\[(?P<v6>[0-9A-Fa-f:.]+(?:%[\w.-]+)?)\]|(?P<name>[\w.%-]*))(?::(?P<port>\d{1,5}))?\Z")
_KEY = re.compile(r"[A-Za-z_]+")


class AddressError(ValueError):
    """An address that does not parse; its message never holds the address itself."""


@dataclass
class Address:
    """A parsed address: what identifies the server and database, and the parameters it carries."""

    scheme: str  # "postgresql", "http", ... or "" for a libpq key=value string
    user: str = ""
    password: str | None = None
    hosts: list[tuple[str, int | None]] = field(default_factory=list)  # (host, port); IPv6 without brackets
    path: str = ""  # the database name (PostgreSQL) or the URL path
    params: dict[str, str] = field(default_factory=dict)

    def shown(self) -> str:
        """The address as a person may see it: no password, no parameter that is not known to be harmless."""
        params = {k: (v if k.lower() in SHOWN_PARAMETERS else HIDDEN) for k, v in self.params.items()}
        if not self.scheme:
            return " ".join(f"{k}={_quoted(v)}" for k, v in params.items())
        user = (
            f"{self.user}{':' + HIDDEN if self.password is not None else ''}@"
            if self.user or self.password
            else ""
        )
        hosts = ",".join(
            (f"[{h}]" if ":" in h else h) + (f":{p}" if p is not None else "") for h, p in self.hosts
        )
        path = f"/{self.path}" if self.path else ""
        query = "&".join(f"{k}={v}" for k, v in params.items())
        return f"{self.scheme}://{user}{hosts}{path}{'?' + query if query else ''}"


SECRET_PARAMETERS = frozenset({"password", "sslpassword"})


def without_password(address: Address) -> str:
    """The address to record and connect with later (libpq then reads ``PGPASSWORD`` or ``~/.pgpass``):
    every part as given but the password, in the form it came in."""
    params = {k: v for k, v in address.params.items() if k.lower() not in SECRET_PARAMETERS}
    if not address.scheme:
        return " ".join(f"{k}={_quoted(v)}" for k, v in params.items())
    user = f"{quote(address.user, safe='')}@" if address.user else ""
    hosts = ",".join(
        (f"[{h}]" if ":" in h else quote(h, safe=".-_")) + (f":{p}" if p is not None else "")
        for h, p in address.hosts
    )
    path = f"/{quote(address.path, safe='/')}" if address.path else ""
    query = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in params.items())
    return f"{address.scheme}://{user}{hosts}{path}{'?' + query if query else ''}"


def parse(address: str) -> Address:
    """``address`` as its client reads it; :class:`AddressError` (without the address) when it cannot be read."""
    if "://" not in address:
        return _parse_keywords(address)
    scheme, rest = address.split("://", 1)
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", scheme):
        raise AddressError("the scheme is not a word")
    parsed = Address(scheme=scheme.lower())
    stop = re.search(r"[@/]", rest)
    if stop and stop.group() == "@":
        userinfo, rest = rest[: stop.start()], rest[stop.end() :]
        user, colon, password = userinfo.partition(":")
        parsed.user, parsed.password = unquote(user), (unquote(password) if colon else None)
    hostspec = re.match(r"[^/?]*", rest).group()  # the host part ends at the first '/' or '?'
    rest, path, query = rest[len(hostspec) :], "", ""
    if rest.startswith("/"):
        path, _, query = rest[1:].partition("?")
    elif rest.startswith("?"):
        query = rest[1:]
    if "/" in path and parsed.scheme not in ("http", "https"):
        raise AddressError("the database name holds a '/'")
    parsed.path = unquote(path)
    for spec in hostspec.split(",") if hostspec else []:
        match = _HOST.match(spec)
        if not match:
            raise AddressError("the host is not a name, an IPv4 address or a bracketed IPv6 address")
        port = int(match.group("port")) if match.group("port") else None
        if port is not None and not 0 < port < 65536:
            raise AddressError("the port is out of range")
        parsed.hosts.append((unquote(match.group("v6") or match.group("name")), port))
    for pair in query.split("&") if query else []:
        key, eq, value = pair.partition("=")
        if not eq or not _KEY.fullmatch(key):
            raise AddressError("a query parameter is not key=value")
        parsed.params[unquote(key)] = unquote(value)
    if "password" in {k.lower() for k in parsed.params}:
        parsed.password = parsed.password if parsed.password is not None else ""
    return parsed


def _parse_keywords(conninfo: str) -> Address:
    """A libpq ``key=value`` string: values bare or single-quoted with backslash escapes."""
    parsed, i, text = Address(scheme=""), 0, conninfo.strip()
    while i < len(text):
        key = _KEY.match(text, i)
        if not key:
            raise AddressError("not a URL and not libpq key=value pairs")
        i = key.end()
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text) or text[i] != "=":
            raise AddressError(f"parameter {key.group()!r} has no '='")
        i += 1
        while i < len(text) and text[i].isspace():
            i += 1
        value = []
        if i < len(text) and text[i] == "'":
            i += 1
            while i < len(text) and text[i] != "'":
                if text[i] == "\\" and i + 1 < len(text):
                    i += 1
                value.append(text[i])
                i += 1
            if i >= len(text):
                raise AddressError("a quoted value is not closed")
            i += 1
        else:
            while i < len(text) and not text[i].isspace():
                if text[i] == "\\" and i + 1 < len(text):
                    i += 1
                value.append(text[i])
                i += 1
        parsed.params[key.group()] = "".join(value)
        while i < len(text) and text[i].isspace():
            i += 1
    lowered = {k.lower(): v for k, v in parsed.params.items()}
    parsed.user, parsed.path = lowered.get("user", ""), lowered.get("dbname", "")
    parsed.password = lowered.get("password")
    host, port = lowered.get("host", ""), lowered.get("port", "")
    parsed.hosts = [(h, int(port) if port.isdigit() else None) for h in host.split(",") if h]
    return parsed


def _quoted(value: str) -> str:
    return (
        value
        if value and not re.search(r"[\s'\\]", value)
        else "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    )


def redact(address: str) -> str:
    """``address`` safe to print: parsed and rebuilt without its secrets, or a placeholder saying why not."""
    try:
        return parse(address).shown()
    except AddressError as exc:
        scheme = (
            address.split("://", 1)[0] if "://" in address and len(address.split("://", 1)[0]) < 20 else ""
        )
        return f"<{scheme + ' ' if scheme.isalpha() else ''}address not shown: {exc}>"
