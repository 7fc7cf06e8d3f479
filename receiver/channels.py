"""Which channel a message went over: the one rule, for callbacks, REST API rows and the GUI's filters.

A channel address carries its channel as a scheme (``whatsapp:+1415…``, ``rcs:brand_agent``,
``messenger:…``) on either side; Twilio's callbacks may also name it in ``ChannelPrefix``. Without either,
a message is MMS when it carries media or its SID starts with ``MM`` (Twilio's MMS SIDs,
https://www.twilio.com/docs/messaging/api/message-resource), else SMS. Schemes are lower-cased and only
letters count, so ``WhatsApp:+1…`` and ``whatsapp:+1…`` are one channel and ``+1 (415) 555:…`` none.
"""

from __future__ import annotations

SMS, MMS, WHATSAPP, RCS, MESSENGER = "sms", "mms", "whatsapp", "rcs", "messenger"
#: The channels the filters offer; any other scheme Twilio sends is stored and shown as it comes.
KNOWN = (SMS, MMS, WHATSAPP, RCS, MESSENGER)


def scheme_of(address: str | None) -> str | None:
    """``whatsapp`` for ``whatsapp:+1…`` (lower-cased); None for a phone number or nothing."""
    if not address or ":" not in address:
        return None
    scheme = address.split(":", 1)[0].strip().lower()
    return scheme if scheme.isascii() and scheme.isalpha() else None


def channel_of(
    from_addr: str | None,
    to_addr: str | None,
    *,
    sid: str = "",
    num_media: int = 0,
    channel_prefix: str | None = None,
) -> str:
    """The channel label of a message: an address's scheme, else ``channel_prefix``, else mms or sms."""
    for address in (from_addr, to_addr):
        scheme = scheme_of(address)
        if scheme:
            return scheme
    prefix = (channel_prefix or "").strip().lower()
    if prefix.isascii() and prefix.isalpha() and prefix != SMS:
        return prefix
    if num_media > 0 or sid.startswith("MM"):
        return MMS
    return SMS
