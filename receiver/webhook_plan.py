"""The webhook plan: which fields of the selected targets change, and to what, to route them to the monitor.

Connection overrides (``#rc=3&rp=ct,rt``) are URL fragments Twilio reads on any webhook URL and never
sends to the receiver: https://www.twilio.com/docs/usage/webhooks/webhooks-connection-overrides
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from .twilio_client import SetupError
from .webhook_paths import FALLBACK_PATH, INBOUND_PATH, STATUS_PATH
from .webhook_targets import KIND_NUMBER, TargetKind, Targets

# the fields whose value Twilio shows in any case ("post", "POST")
METHOD_FIELDS = {"sms_method", "sms_fallback_method", "inbound_method", "fallback_method"}


@dataclass(frozen=True)
class Change:
    target_kind: TargetKind
    target_sid: str
    target_name: str
    field: str
    old: str | None
    new: str


_OVERRIDE_RANGES = {"ct": (100, 10000), "rt": (100, 15000), "tt": (100, 15000), "rc": (0, 5)}
_RETRY_POLICIES = {"4xx", "5xx", "ct", "rt", "all"}


def parse_overrides(fragment: str | None) -> str:
    """Validate a connection-overrides fragment and return it as ``#k=v&…`` (or "")."""
    text = (fragment or "").strip().removeprefix("#")
    if not text:
        return ""
    seen: dict[str, str] = {}
    for pair in text.split("&"):
        key, sep, value = pair.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise SetupError(f"Connection override '{pair}' must look like key=value, e.g. rc=3.")
        if key in seen:
            raise SetupError(f"Connection override '{key}' is given twice.")
        if key in _OVERRIDE_RANGES:
            low, high = _OVERRIDE_RANGES[key]
            if not value.isdigit() or not low <= int(value) <= high:
                raise SetupError(f"Connection override {key} must be a whole number from {low} to {high}.")
        elif key == "rp":
            bad = [p for p in value.split(",") if p not in _RETRY_POLICIES]
            if bad:
                raise SetupError(
                    f"Retry policy rp has unknown value(s) {', '.join(bad)}; use a comma list of "
                    "4xx, 5xx, ct, rt, all."
                )
        elif key == "e":
            if not re.fullmatch(r"[a-z][a-z-]*(,[a-z][a-z-]*)*", value):
                raise SetupError("Edge override e must be a comma list of edge names, e.g. e=ashburn,dublin.")
        elif key == "sni":
            if value not in ("on", "off"):
                raise SetupError("sni must be 'on' or 'off'.")
        else:
            raise SetupError(f"Unknown connection override '{key}'; known keys: ct, rt, tt, rc, rp, e, sni.")
        seen[key] = value
    return "#" + "&".join(f"{k}={v}" for k, v in seen.items())


def validate_public_base(public_base: str) -> str:
    """Return the public base URL without a trailing slash, or explain why Twilio cannot use it."""
    base = public_base.strip().rstrip("/")
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SetupError(
            f"The public URL must start with https:// (or http://) and name a host; got {base!r}."
        )
    if parts.query or parts.fragment:
        raise SetupError(
            "The public URL must not contain '?' or '#'; connection overrides go in their own field."
        )
    host = parts.hostname
    if "_" in host:
        raise SetupError(
            f"Twilio rejects webhook URLs with an underscore in the host name ({host}); use a host name "
            "without underscores."
        )
    unreachable = host == "localhost" or host.endswith(".localhost")
    try:
        address = ipaddress.ip_address(host)
        unreachable = unreachable or address.is_loopback or address.is_private or address.is_unspecified
        unreachable = unreachable or address.is_link_local
    except ValueError:
        pass
    if unreachable:
        raise SetupError(
            f"Twilio cannot reach {host}: it is a local or private address. Start the tunnel and use its "
            "public https URL (e.g. https://xxxx.ngrok-free.app)."
        )
    return base


def desired_values(kind: TargetKind, public_base: str, overrides: str | None = None) -> dict[str, str]:
    """The field values that route a target's webhooks to the monitor at ``public_base``."""
    base = validate_public_base(public_base)
    frag = parse_overrides(overrides)
    inbound, fallback, status = (f"{base}{p}{frag}" for p in (INBOUND_PATH, FALLBACK_PATH, STATUS_PATH))
    if kind == KIND_NUMBER:
        return {
            "sms_url": inbound,
            "sms_method": "POST",
            "sms_fallback_url": fallback,
            "sms_fallback_method": "POST",
        }
    return {
        "inbound_request_url": inbound,
        "inbound_method": "POST",
        "fallback_url": fallback,
        "fallback_method": "POST",
        "status_callback": status,
    }


def same_value(field_name: str, a: str | None, b: str | None) -> bool:
    """Twilio shows an unset URL as "" (numbers) or null (services), and methods in any case."""
    a, b = a or "", b or ""
    return a.upper() == b.upper() if field_name in METHOD_FIELDS else a == b


def plan_changes(
    targets: Targets, selected_sids: list[str], public_base: str, overrides: str | None = None
) -> list[Change]:
    """The field updates that route the selected targets to the monitor; unchanged fields are omitted."""
    changes: list[Change] = []
    for sid in selected_sids:
        target = targets.get(sid)
        if target is None:
            raise SetupError(f"{sid} is not on this account (any more); refresh the list.")
        current = target.values()
        for name, new in desired_values(target.kind, public_base, overrides).items():
            if not same_value(name, current[name], new):
                changes.append(Change(target.kind, target.sid, target.name, name, current[name], new))
    return changes
