"""Build ``resources/error_codes.json``, the app's bundled Twilio error catalogue.

The prose below is written for this project, for operators watching callbacks: what the code
usually means in practice and what to check first. Facts (codes, limits, which codes exist) were
checked against Twilio's public error dictionary (``twilio-error-codes.json``, May 2023 snapshot) and
``TWILIO-FACTS.md``; that dictionary's wording is not reused, and ``tests/test_errors.py`` enforces it.

Run from the repository root: ``python tools/build_error_codes.py``. The JSON is committed, so the
app never runs this script; edit the table here and re-run it instead of hand-editing the JSON.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

OUTPUT = Path(__file__).resolve().parent.parent / "resources" / "error_codes.json"
URL_TEMPLATE = "https://www.twilio.com/docs/api/errors/{code}"

E, W = "error", "warning"

# (code, log level, tags, title <= 40 chars, cause, action)
Row = tuple[int, str, tuple[str, ...], str, str, str]

WEBHOOK: list[Row] = [
    (
        11100,
        E,
        ("webhook",),
        "Invalid webhook URL format",
        "A configured webhook or callback URL is not a syntactically valid absolute URL.",
        "Re-enter it with scheme and host, e.g. https://<tunnel-host>/twilio/status, with no spaces.",
    ),
    (
        11200,
        E,
        ("webhook",),
        "HTTP retrieval failure",
        "Twilio reached the webhook but got no usable answer: an HTTP 4xx/5xx status, nothing back within "
        "15 seconds, a missing or wrong Content-Type, or a redirect to a bad address.",
        "Check the Requests view for the status this app returned and how long it took. Make sure the "
        "tunnel is up, the receiver answers fast with a Content-Type, and slow work happens after the reply.",
    ),
    (
        11205,
        E,
        ("webhook",),
        "HTTP connection failure",
        "No TCP connection to the webhook host could be opened within about 10 seconds (two 5-second "
        "tries): the tunnel is down, or the URL names localhost or a private LAN address.",
        "Confirm the public tunnel URL is live and reachable from the internet. If a fallback URL is "
        "configured, Twilio tries that one next.",
    ),
    (
        11206,
        E,
        ("webhook",),
        "HTTP protocol violation",
        "Whatever answered at the webhook URL did not speak valid HTTP, typically plain HTTP sent to a "
        "TLS port (or the reverse) or a broken proxy in between.",
        "Check that the scheme and port in the configured URL match what the server listens on (https "
        "for ngrok URLs) and that no proxy mangles the reply.",
    ),
    (
        11210,
        E,
        ("webhook",),
        "HTTP bad host name",
        "The host in the webhook URL does not resolve in public DNS: a typo, an expired tunnel "
        "subdomain, or a name known only on your own machine or network.",
        "Re-run the webhook wizard with the current tunnel URL, or fix the host name so public DNS can "
        "resolve it.",
    ),
    (
        11215,
        E,
        ("webhook",),
        "Too many HTTP redirects",
        "Fetching the webhook went through more redirects than Twilio follows, often an http-to-https "
        "bounce combined with a trailing-slash or login redirect.",
        "Configure the final URL directly so the receiver answers on the first request.",
    ),
    (
        11220,
        E,
        ("webhook",),
        "TLS handshake failed",
        "The secure connection was reset during negotiation, usually because the server and Twilio have "
        "no TLS version or cipher suite in common.",
        "Offer TLS 1.2 or newer with current ciphers. An ngrok https URL normally avoids this; check any "
        "custom proxy placed in front of the receiver.",
    ),
    (
        11235,
        E,
        ("webhook",),
        "TLS certificate name mismatch",
        "The certificate the webhook server presented was issued for another host name than the one in "
        "the URL.",
        "Use the host name the certificate covers (with ngrok, the tunnel's own host) or install a "
        "matching certificate.",
    ),
    (
        11236,
        E,
        ("webhook",),
        "TLS certificate expired",
        "The certificate presented by the webhook server is past its end date.",
        "Renew the certificate on whichever server or proxy terminates TLS for the webhook.",
    ),
    (
        11237,
        E,
        ("webhook",),
        "TLS certificate chain not trusted",
        "Twilio could not build a chain of trust for the webhook's certificate: it is self-signed, comes "
        "from a private CA, or the server leaves out intermediate certificates.",
        "Serve a publicly trusted certificate with its full chain, or use the tunnel's https URL, whose "
        "certificate is already trusted.",
    ),
    (
        11750,
        E,
        ("webhook", "twiml"),
        "Response body over 64 kB",
        "The webhook answered with more than 64 kB, typically a debug page, stack trace or other "
        "non-TwiML output in place of a small TwiML document.",
        "Return only TwiML; for inbound messages this app answers with an empty <Response/>. Inspect the "
        "logged response to see what produced the big body.",
    ),
    (
        11751,
        E,
        ("mms", "whatsapp", "media"),
        "Media too large for the channel",
        "The media attached to the message adds up to more than the channel accepts (about 5 MB for MMS "
        "and 16 MB for WhatsApp).",
        "Compress or resize the files, or spread them across several messages so each stays under the "
        "channel's limit.",
    ),
    (
        12100,
        E,
        ("webhook", "twiml"),
        "TwiML parse failure",
        "The webhook's answer could not be read as XML, for example a bare 'OK' or an HTML page where "
        "TwiML was expected.",
        "Reply with well-formed XML served as text/xml; an empty <Response/> is enough when no reply "
        "message should go out.",
    ),
    (
        12200,
        W,
        ("webhook", "twiml"),
        "TwiML schema warning",
        "The XML parsed but is not valid TwiML: a verb is misspelt or has the wrong letter case, an "
        "attribute is unknown, or an element is nested where it is not allowed.",
        "Use the line and column in the debugger alert to find the element, and compare it with the "
        "messaging TwiML reference (verb names are case-sensitive).",
    ),
    (
        12300,
        E,
        ("webhook", "media"),
        "Invalid Content-Type",
        "A webhook reply or media file came back with a content type Twilio cannot handle, or with no "
        "Content-Type header at all.",
        "Serve TwiML as text/xml and media with a supported MIME type, and check the URL points at the "
        "resource you intended.",
    ),
    (
        14103,
        W,
        ("twiml", "sms"),
        "Empty or invalid message body",
        "A <Message> verb in the TwiML reply holds neither text nor media, such as an empty <Message/>.",
        "Put text or a <Media> element inside the <Message>, or return an empty <Response/> when no "
        "reply is wanted.",
    ),
    (
        14105,
        W,
        ("twiml", "sms", "webhook"),
        "Bad statusCallback in TwiML",
        "The statusCallback attribute on a <Message> verb is not a usable absolute URL.",
        "Give a full http(s) URL, such as this app's /twilio/status endpoint on the public tunnel, or "
        "remove the attribute.",
    ),
    (
        14107,
        E,
        ("sms", "rate-limit"),
        "Reply rate limit between numbers",
        "Too many replies went back and forth between the same two numbers in a short time (around 15 "
        "in 30 seconds), which Twilio treats as a runaway loop.",
        "Look for two auto-responders answering each other, an action or Redirect URL pointing back at "
        "itself, or a script resending in a loop, and stop it before sending again.",
    ),
    (
        57012,
        E,
        ("webhook", "security"),
        "Webhook signature invalid",
        "A request's signature did not verify, typically because the URL used for checking differs from "
        "the one Twilio signed (http vs https behind a tunnel, port, query string), parameters were "
        "altered or trimmed, or the wrong Auth Token was used.",
        "Validate against the exact public URL configured in Twilio with all raw parameters, and use the "
        "current primary Auth Token; re-read it after any rotation.",
    ),
]

API: list[Row] = [
    (
        20003,
        E,
        ("api", "account"),
        "Authentication or permission denied",
        "A REST call used a wrong Account SID / Auth Token or API key pair, a token since rotated, or "
        "credentials without access to that resource.",
        "Re-enter the credentials in the setup wizard (they live in the system keychain) and check the "
        "SID belongs to the account or subaccount you are working on.",
    ),
    (
        20404,
        E,
        ("api",),
        "Resource not found",
        "A REST call named a SID or path that does not exist in this account, e.g. a released number or "
        "a resource owned by another subaccount.",
        "Check the SID, and that you are using the credentials of the account that owns it.",
    ),
    (
        20429,
        E,
        ("api", "rate-limit"),
        "Too many concurrent API requests",
        "The account had more REST requests in flight at the same moment than Twilio permits.",
        "Retry after a short pause with backoff and run fewer requests in parallel. A call refused with "
        "429 was never executed, so repeating it is safe.",
    ),
    (
        21211,
        E,
        ("sms", "api"),
        "Invalid 'To' number",
        "The destination is malformed (not E.164, wrong country code) or is the sender itself, i.e. a "
        "number messaging itself.",
        "Write the recipient as + country code + national number and make sure it differs from From.",
    ),
    (
        21212,
        E,
        ("sms", "api"),
        "Invalid 'From' number",
        "The sender is not a valid E.164 number or permitted alphanumeric ID, is listed as "
        "do-not-originate, or the alpha ID is refused as too generic.",
        "Send from a number this account owns, in E.164 form, or from a registered alpha ID where alpha "
        "senders are allowed; a Messaging Service can pick the sender for you.",
    ),
    (
        21408,
        E,
        ("sms", "account"),
        "Destination region not enabled",
        "The recipient's country is switched off in the account's Messaging Geo-Permissions.",
        "If you do mean to message that country, enable it in the Console under Messaging geo "
        "permissions and send again.",
    ),
    (
        21602,
        E,
        ("sms", "api"),
        "Message body missing",
        "A send request arrived with no Body text, no media and no content template.",
        "Provide Body, MediaUrl or a ContentSid when creating the message.",
    ),
    (
        21603,
        E,
        ("sms", "api"),
        "No From or Messaging Service",
        "The send request named neither a sender number nor a Messaging Service SID.",
        "Pass From or MessagingServiceSid on every message create call.",
    ),
    (
        21604,
        E,
        ("sms", "api"),
        "'To' number missing",
        "The send request had no destination.",
        "Pass the recipient's number in the To parameter.",
    ),
    (
        21606,
        E,
        ("sms", "api"),
        "Sender cannot message this recipient",
        "The From number is not a Twilio (or ported-in) number able to send messages, is badly formatted, "
        "or is a short code from another country than the recipient.",
        "Check the number's messaging capability in the Console, use E.164, and keep short-code traffic "
        "within the short code's own country.",
    ),
    (
        21608,
        E,
        ("sms", "trial"),
        "Trial account: recipient unverified",
        "A trial account may only message numbers that were verified on the account beforehand.",
        "Verify the recipient under Verified Caller IDs, or upgrade the account to reach any number.",
    ),
    (
        21609,
        E,
        ("sms", "api", "webhook"),
        "Invalid StatusCallback URL",
        "The StatusCallback passed when sending is not a valid absolute URL.",
        "Pass a full https URL, for example this app's /twilio/status on the public tunnel.",
    ),
    (
        21610,
        E,
        ("sms", "opt-out"),
        "Recipient opted out (STOP)",
        "The recipient earlier replied STOP (or a similar opt-out word) to this sender or service, so "
        "Twilio refuses to message them.",
        "Drop the number from sends. It can be reached again only after the person texts START (or a "
        "similar opt-in word).",
    ),
    (
        21611,
        E,
        ("sms", "rate-limit"),
        "Sender queue full",
        "More messages were queued on one sender than it can send within the queue window (roughly "
        "four hours at that sender's throughput).",
        "Spread sends over time, add senders through a Messaging Service, or get a sender with more "
        "throughput.",
    ),
    (
        21612,
        E,
        ("sms",),
        "Recipient not reachable via SMS",
        "Twilio has no route from this sender to the recipient's carrier, or this mix of sender type "
        "and destination is unsupported.",
        "Check the number is right and mobile; try another sender type (e.g. a local number in the "
        "destination country) or ask Twilio support about coverage.",
    ),
    (
        21614,
        E,
        ("sms",),
        "'To' is not a mobile number",
        "The destination looks like a landline, is invalid, or uses a non-standard IoT/M2M format that "
        "Twilio's validation does not know.",
        "Check the line type with the Lookup API, fix the formatting, and do not retry landlines.",
    ),
    (
        21617,
        E,
        ("sms",),
        "Body over 1600 characters",
        "After concatenation the text is longer than the 1600-character maximum; emoji and some symbols "
        "count as more than one character.",
        "Shorten the text or split it into several messages; link to long content instead.",
    ),
    (
        21620,
        E,
        ("mms", "media"),
        "Invalid media URL",
        "One or more MediaUrl values are malformed, not http(s), or cannot be fetched publicly.",
        "Use public https URLs that return the file itself, without a login or a redirect to a web page.",
    ),
    (
        21621,
        E,
        ("mms",),
        "Sender not enabled for MMS",
        "The From number cannot send MMS, e.g. a number without MMS capability or outside the regions "
        "where Twilio offers MMS.",
        "Send from an MMS-capable number, or send a link to the media in a plain SMS.",
    ),
    (
        21623,
        E,
        ("mms", "media"),
        "Too many media files",
        "The message carries more media attachments than allowed (ten per message).",
        "Attach at most ten media URLs and put the rest in further messages.",
    ),
    (
        21703,
        E,
        ("sms", "messaging-service"),
        "No sender in service for recipient",
        "No sender in the Messaging Service pool can reach this destination, e.g. no US/Canada number "
        "for a North American recipient, or only a short code that cannot reach it.",
        "Add a sender with the right country and capabilities to the Messaging Service's sender pool.",
    ),
    (
        21704,
        E,
        ("sms", "messaging-service"),
        "Messaging Service has no senders",
        "The Messaging Service used for sending has an empty sender pool.",
        "Put a phone number, short code or alpha sender into the service's pool.",
    ),
]

DELIVERY: list[Row] = [
    (
        30001,
        E,
        ("sms", "rate-limit"),
        "Queue overflow",
        "Messages were submitted faster than the sender's throughput, and the backlog grew beyond what "
        "Twilio will hold.",
        "Slow the send rate, spread traffic over several senders in a Messaging Service, or move to a "
        "higher-throughput sender (short code, toll-free, registered 10DLC).",
    ),
    (
        30002,
        E,
        ("account",),
        "Account suspended",
        "The account was suspended in the gap between queueing and sending, for example over an unpaid "
        "balance or a policy breach.",
        "Check the account status and balance in the Console and contact Twilio support to restore it.",
    ),
    (
        30003,
        E,
        ("sms", "carrier"),
        "Unreachable handset",
        "The carrier could not hand the message to the phone: it is off or out of coverage, cannot take "
        "SMS (a landline, say), or the carrier had trouble.",
        "Retry later and test with another device on the same network; if many recipients on one carrier "
        "fail, gather message SIDs and open a support ticket.",
    ),
    (
        30004,
        E,
        ("sms", "carrier"),
        "Message blocked",
        "Delivery was refused at the destination: the recipient or their carrier blocks this sender, the "
        "number is on a do-not-disturb register (such as India's), or the carrier rejected it.",
        "Do not keep retrying that number; confirm consent, ask the recipient to unblock you, and review "
        "the carrier rules for that country.",
    ),
    (
        30005,
        E,
        ("sms", "carrier"),
        "Unknown destination handset",
        "The carrier does not recognise the destination; it may be disconnected, never issued, or mistyped.",
        "Confirm the number with the recipient or the Lookup API and remove it from lists if it is dead.",
    ),
    (
        30006,
        E,
        ("sms", "carrier"),
        "Landline or unreachable carrier",
        "The destination cannot take text messages, usually a fixed line, or a carrier this sender type "
        "(a short code, for instance) cannot reach.",
        "Check the line type with Lookup and message a mobile number instead, or use another sender type.",
    ),
    (
        30007,
        E,
        ("sms", "carrier"),
        "Message filtered as spam",
        "Twilio's filters or the carrier judged the message to be spam, phishing or otherwise against "
        "policy, often because of its content, a public link shortener or an unregistered sender.",
        "Review content and opt-in practice, register the sender (10DLC or toll-free verification), "
        "avoid public URL shorteners, and follow Twilio's messaging policy.",
    ),
    (
        30008,
        E,
        ("sms", "carrier"),
        "Unknown delivery error",
        "The carrier reported a failure without saying why.",
        "Retry once; if the same number keeps failing, collect message SIDs and times and contact "
        "Twilio support.",
    ),
    (
        30009,
        E,
        ("sms", "carrier", "inbound"),
        "Missing inbound segment",
        "An incoming multi-part SMS arrived incomplete: a part never reached Twilio, often because of "
        "the sender's weak coverage or handset.",
        "Ask the sender to resend; if many users see it, open a support ticket with the message SIDs.",
    ),
    (
        30010,
        E,
        ("sms", "api"),
        "Price above MaxPrice",
        "The message would have cost more than the MaxPrice on the request; long or Unicode text adds "
        "segments and so raises the price.",
        "Raise or remove MaxPrice, and watch for emoji or curly quotes that force UCS-2 encoding and "
        "extra segments.",
    ),
    (
        30011,
        E,
        ("mms", "carrier"),
        "MMS not supported",
        "Outbound: the recipient's handset or network cannot receive MMS. Inbound: an MMS was sent to "
        "your number from a country where Twilio has no incoming MMS support.",
        "Send text with a link instead of attachments; for inbound, tell the sender that pictures cannot "
        "be received there.",
    ),
    (
        30012,
        E,
        ("api",),
        "Validity period too short",
        "The ValidityPeriod (time to live) set on the request is below the minimum.",
        "Use a longer ValidityPeriod, or leave it out to get the default.",
    ),
    (
        30013,
        E,
        ("api",),
        "Validity period too long",
        "The ValidityPeriod (time to live) set on the request is above the maximum.",
        "Lower ValidityPeriod to the documented range, or leave it out.",
    ),
    (
        30014,
        E,
        ("api",),
        "Invalid 'To' attributes",
        "Twilio rejected the recipient address details for this message, typically a malformed "
        "channel-prefixed address.",
        "Check the To value and its prefix: channel messages need channel:+E164, e.g. whatsapp:+15551234567.",
    ),
    (
        30015,
        E,
        ("api",),
        "Unsupported channel type",
        "The prefix before ':' in an address names a channel Twilio does not support for this request.",
        "Use a supported prefix such as whatsapp:, or a plain E.164 number for SMS.",
    ),
    (
        30016,
        E,
        ("api", "whatsapp"),
        "To/From channel mismatch",
        "Sender and recipient are on different channels, e.g. a whatsapp: From with a plain SMS To.",
        "Give both addresses the same channel prefix (whatsapp:+... on both sides for WhatsApp).",
    ),
    (
        30017,
        E,
        ("mms", "carrier"),
        "Carrier network congestion",
        "The receiving carrier turned the message away because its network, usually its MMS gateway, "
        "was overloaded, even after Twilio retried.",
        "Resend later and pace bulk sends instead of firing them in one burst.",
    ),
    (
        30018,
        W,
        ("sms", "carrier"),
        "Alpha sender ID not registered",
        "The destination network wants alphanumeric sender IDs registered in advance and this account "
        "has no registration for the one used.",
        "Register the alphanumeric sender for that country in the Console; until then expect weaker "
        "delivery or rejection on that network.",
    ),
    (
        30019,
        E,
        ("mms", "carrier", "media"),
        "Content too large for carrier",
        "The message content, usually MMS media, is bigger than the destination carrier accepts.",
        "Shrink files to the carrier's limit or send a link to the content instead.",
    ),
    (
        30020,
        E,
        ("sms",),
        "Message scheduling failure",
        "A fault inside Twilio's Message Scheduling stopped a scheduled message from being processed.",
        "Schedule it again; if it keeps failing, report the time and request to Twilio support.",
    ),
    (
        30021,
        E,
        ("sms", "messaging-service"),
        "Messaging Service internal failure",
        "A fault inside the Twilio component that routes messages through Messaging Services.",
        "Retry the send; contact Twilio support with message SIDs if it repeats.",
    ),
    (
        30022,
        E,
        ("sms", "10dlc", "rate-limit"),
        "10DLC throughput exceeded",
        "US carriers rejected the message because sending ran above the rate allowed for the 10DLC "
        "campaign, or one recipient got too many messages too quickly.",
        "Keep the send rate within the campaign's allowance and avoid bursts to a single number.",
    ),
    (
        30023,
        E,
        ("sms", "10dlc"),
        "10DLC daily cap reached",
        "The brand has used its daily allowance of message segments towards a US carrier (T-Mobile in "
        "particular).",
        "Wait for the reset at midnight US Pacific time, send the important traffic first, or seek a "
        "higher brand tier.",
    ),
    (
        30024,
        E,
        ("sms", "carrier", "10dlc"),
        "Sender not provisioned on carrier",
        "The numeric sender is not yet provisioned with the destination carrier; common just after 10DLC "
        "or other sender registration, when all messages to one carrier fail.",
        "Allow time for provisioning after registration; if it persists, give Twilio support several "
        "affected message SIDs.",
    ),
    (
        30025,
        W,
        ("sms", "10dlc"),
        "T-Mobile daily limit 50% used",
        "Half of the brand's daily T-Mobile message allowance is used up.",
        "Nothing yet; plan the remaining sends, because at 100% T-Mobile traffic fails until the "
        "midnight Pacific reset.",
    ),
    (
        30026,
        W,
        ("sms", "10dlc"),
        "T-Mobile daily limit 70% used",
        "Seven tenths of the brand's daily T-Mobile allowance is used up.",
        "Consider holding back low-priority traffic so essential messages still get through before the "
        "daily reset.",
    ),
    (
        30027,
        E,
        ("sms", "10dlc"),
        "T-Mobile daily limit reached",
        "The brand has used its whole daily T-Mobile allowance; further messages to T-Mobile users are "
        "likely to be filtered.",
        "Pause T-Mobile-bound traffic until midnight Pacific time; if this happens often, register or "
        "vet the brand for a higher limit.",
    ),
    (
        30028,
        E,
        ("api",),
        "Invalid API version",
        "The request used an API version other than 2010-04-01 (or the legacy 2008-08-01), or none.",
        "Send through the current 2010-04-01 endpoint, which every maintained helper library uses.",
    ),
    (
        30029,
        E,
        ("api",),
        "Invalid ContentRetention",
        "ContentRetention holds an unsupported value, or the account lacks the Message Privacy feature "
        "it relies on.",
        "Use a documented value, and have Message Privacy enabled before relying on the parameter.",
    ),
    (
        30030,
        E,
        ("api",),
        "Invalid AddressRetention",
        "AddressRetention holds an unsupported value, or Message Privacy is not enabled for the account.",
        "Correct the value or drop the parameter, and enable Message Privacy first if you need it.",
    ),
    (
        30031,
        E,
        ("api",),
        "Invalid MaxRate",
        "MaxRate was not a positive number.",
        "Pass MaxRate as a number above zero, or omit it.",
    ),
    (
        30032,
        E,
        ("sms", "toll-free"),
        "Toll-free number not verified",
        "A toll-free number sent to the US or Canada without completed verification, its verification "
        "was rejected, or its unverified traffic was flagged as spam.",
        "Submit (or correct and resubmit) toll-free verification for the number in the Console, and use "
        "a verified sender meanwhile.",
    ),
    (
        30033,
        E,
        ("sms", "10dlc"),
        "10DLC campaign suspended",
        "The sender belongs to a US A2P 10DLC campaign that has been suspended.",
        "Ask Twilio support why the campaign was suspended and what reinstatement needs; use another "
        "registered sender meanwhile.",
    ),
    (
        30034,
        E,
        ("sms", "10dlc"),
        "Unregistered 10DLC number",
        "A US local (10DLC) number messaged US recipients without being linked to an approved brand and "
        "campaign.",
        "Register a brand and campaign for A2P 10DLC and add the number to that campaign's Messaging "
        "Service before sending.",
    ),
    (
        30035,
        E,
        ("sms", "10dlc"),
        "10DLC number still registering",
        "The number's 10DLC campaign registration is still in progress, so carriers may refuse its "
        "traffic for now.",
        "Wait until the Console shows the registration as complete, then resend.",
    ),
    (
        30450,
        E,
        ("sms", "fraud"),
        "Blocked by SMS Pumping Protection",
        "SMS Pumping Protection suspected artificially inflated traffic to this destination and blocked "
        "it for 15 to 30 minutes.",
        "Usually nothing: the block lifts by itself. If genuine users are hit repeatedly, send Twilio "
        "support several recent message SIDs.",
    ),
]

CHANNELS: list[Row] = [
    (
        63001,
        E,
        ("whatsapp", "messenger"),
        "Channel authentication failed",
        "The channel provider (WhatsApp, Facebook Messenger) refused Twilio's credentials for this "
        "sender: the access token was revoked or rotated, or the page owner changed password or removed "
        "Twilio.",
        "Reconnect the sender in the Console; if that fails, delete the sender and add it again.",
    ),
    (
        63002,
        E,
        ("whatsapp",),
        "Channel cannot find From address",
        "The provider does not know the sending address, e.g. a WhatsApp sender that is not, or no "
        "longer, registered.",
        "Check From matches an active sender exactly, including the whatsapp: prefix.",
    ),
    (
        63003,
        E,
        ("whatsapp",),
        "Channel cannot find To address",
        "The recipient is invalid or inactive on the channel, e.g. the number has no WhatsApp account or "
        "is formatted wrongly.",
        "Confirm the number is E.164 with the whatsapp: prefix and that its owner uses WhatsApp; fall "
        "back to SMS otherwise.",
    ),
    (
        63005,
        E,
        ("whatsapp",),
        "Channel rejected the content",
        "The channel refused the message content; the provider's own error text in the debugger gives "
        "the specific reason.",
        "Read that provider message in the Console debugger and adapt type, length or template to it.",
    ),
    (
        63006,
        E,
        ("whatsapp",),
        "Content unusable for the channel",
        "Twilio could not turn the message into a form the channel accepts, e.g. an unsupported mix of "
        "text, media and template.",
        "Simplify the message to a type the channel supports and check the provider detail.",
    ),
    (
        63007,
        E,
        ("whatsapp",),
        "No channel sender for From",
        "Twilio has no channel sender matching From: not a registered WhatsApp sender, a wrong number, "
        "or the whatsapp: prefix missing.",
        "Send from a WhatsApp-enabled sender of this account (or the sandbox number) written as "
        "whatsapp:+E164.",
    ),
    (
        63008,
        E,
        ("whatsapp",),
        "Channel misconfigured",
        "The sender's channel set-up in Twilio is incomplete or wrong, so the request could not run.",
        "Review the sender's channel settings in the Console and save or onboard it again.",
    ),
    (
        63009,
        E,
        ("whatsapp",),
        "Channel provider server error",
        "The channel provider answered Twilio with a server-side (5xx) failure.",
        "Retry later; the provider's detail in the debugger may say more.",
    ),
    (
        63010,
        E,
        ("whatsapp",),
        "Twilio internal channel error",
        "Twilio itself failed while processing the message for the channel.",
        "Retry; report repeated failures to Twilio support with message SIDs.",
    ),
    (
        63011,
        E,
        ("whatsapp", "api"),
        "Invalid channel request",
        "Twilio found a problem with the request while handing it to the channel, such as parameters "
        "the channel cannot use.",
        "Compare the parameters with what the channel supports and read the debugger detail.",
    ),
    (
        63012,
        E,
        ("whatsapp",),
        "Channel provider internal error",
        "The channel provider (Meta, for WhatsApp) had an internal failure of its own.",
        "Retry after a while; if widespread, check the WhatsApp and Twilio status pages.",
    ),
    (
        63013,
        E,
        ("whatsapp",),
        "Channel policy violation",
        "The message breaks the provider's policy; on WhatsApp it also happens when a template variable "
        "is filled with a long run of spaces.",
        "Check the content against WhatsApp's business and commerce policies and fix template variable "
        "values.",
    ),
    (
        63014,
        E,
        ("whatsapp", "messenger"),
        "Blocked by recipient action",
        "Something the recipient did, such as blocking the business or muting its messages, stops delivery.",
        "Stop sending to this recipient unless they get in touch again.",
    ),
    (
        63015,
        E,
        ("whatsapp", "sandbox"),
        "Recipient not joined to sandbox",
        "The WhatsApp sandbox only delivers to numbers that opted in with its join code, and this number "
        "has not (or the opt-in lapsed).",
        "Have the recipient send the join keyword from the Console's sandbox page to the sandbox number, "
        "then resend.",
    ),
    (
        63016,
        E,
        ("whatsapp", "template"),
        "Outside 24-hour session window",
        "A free-form WhatsApp message went out more than 24 hours after the user last wrote to you; "
        "outside that window only approved templates may be sent.",
        "Send an approved template (ContentSid) to reopen the conversation, and free text only after the "
        "user replies.",
    ),
    (
        63017,
        E,
        ("whatsapp", "rate-limit"),
        "Rate limit exceeded",
        "Messages were sent faster than allowed for this sender or account.",
        "Lower the send rate and retry the failed messages with backoff.",
    ),
    (
        63018,
        E,
        ("whatsapp", "rate-limit"),
        "Channel rate limit exceeded",
        "The channel's own throughput limit (e.g. WhatsApp's per-sender rate) was exceeded.",
        "Pace sends to the channel's limit and queue the overflow rather than bursting.",
    ),
    (
        63019,
        E,
        ("whatsapp", "media"),
        "Media download failed",
        "Twilio could not fetch the media to send, or the fetch returned an empty file.",
        "Check the media URL is public, serves the file with the right Content-Type and is not zero "
        "bytes, then retry.",
    ),
    (
        63020,
        E,
        ("whatsapp", "account"),
        "Meta Business Manager error",
        "Twilio hit a problem with the Meta Business Manager account behind the WhatsApp sender, e.g. "
        "its verification or permissions.",
        "Check the Business Manager's status, verification and Twilio's access in Meta's tools.",
    ),
    (
        63021,
        E,
        ("whatsapp",),
        "Invalid content for channel",
        "The channel found the content or its parameters invalid, e.g. unsupported characters, lengths "
        "or values.",
        "Read the debugger detail and correct the offending field before resending.",
    ),
    (
        63022,
        E,
        ("whatsapp",),
        "Invalid display name certificate",
        "The WhatsApp sender's display-name (vname) certificate is invalid, so the sender cannot be used.",
        "Check the approved display name and register the sender again if needed.",
    ),
    (
        63023,
        E,
        ("whatsapp",),
        "Channel generic error",
        "The channel reported a failure without a more specific code.",
        "Read the provider message in the debugger; retry, and contact support if it repeats.",
    ),
    (
        63024,
        E,
        ("whatsapp",),
        "Invalid message recipient",
        "The channel considers the recipient unable to receive the message, e.g. not a valid WhatsApp "
        "user or not reachable by this sender.",
        "Verify the number and that it uses WhatsApp; do not retry over and over, consider SMS instead.",
    ),
    (
        63025,
        E,
        ("whatsapp", "media"),
        "Media already exists",
        "The media being uploaded to the channel was already there.",
        "Usually harmless; reuse the existing media, or send a fresh file if the message failed.",
    ),
    (
        63026,
        E,
        ("whatsapp",),
        "Sender content flagged as spam",
        "The channel marked content from this sender as spam.",
        "Review what you send and to whom, make sure recipients opted in, and send less to people who "
        "do not engage.",
    ),
    (
        63027,
        E,
        ("whatsapp", "template"),
        "Template missing for language",
        "No approved template matches the requested name with that language and locale.",
        "Use a language the template is approved in, or submit a translation for approval.",
    ),
    (
        63028,
        E,
        ("whatsapp", "template"),
        "Template parameter count mismatch",
        "The number of variables supplied differs from the number of placeholders in the template.",
        "Supply exactly one value per placeholder in ContentVariables.",
    ),
    (
        63029,
        E,
        ("whatsapp", "template"),
        "Recipient could not get template",
        "The recipient's device failed to download the template message.",
        "Check the destination number and handset, then try again.",
    ),
    (
        63030,
        E,
        ("whatsapp", "template"),
        "Parameter not supported for type",
        "The request combined things this channel message type does not allow, such as media on a "
        "template message, or a link preview with a malformed URL.",
        "Send the template without media (or use a media template), and check URLs meant for previews.",
    ),
    (
        63031,
        E,
        ("whatsapp",),
        "From and To are the same",
        "The channel message names the same address as sender and recipient.",
        "Correct the To address.",
    ),
    (
        63032,
        E,
        ("whatsapp",),
        "WhatsApp limitation for this user",
        "WhatsApp will not deliver to this user for reasons on Meta's side, e.g. the number takes part in "
        "an experiment (Meta error 472).",
        "Skip this user for now; there is nothing to fix on your side.",
    ),
    (
        63033,
        E,
        ("whatsapp",),
        "Recipient blocked the sender",
        "Once returned when a user blocked your sender; WhatsApp no longer reports blocks, so such "
        "messages now just stay 'sent'.",
        "Stop messaging this user, and read a long-lasting 'sent' status with no delivery as a possible "
        "block.",
    ),
    (
        63034,
        E,
        ("whatsapp", "media"),
        "Media exceeds size limit",
        "An attached file is bigger than the maximum this message type allows.",
        "Resend with smaller media (5 MB or under).",
    ),
    (
        63035,
        E,
        ("rcs",),
        "RCS agent not launched for recipient",
        "An RCS Business Messaging agent still in testing only reaches invited testers, and this "
        "recipient has not accepted an invitation (or lacks RCS).",
        "Invite the number as a tester and have them accept, or launch the agent.",
    ),
    (
        63036,
        E,
        ("rcs",),
        "RCS recipient unreachable",
        "RCS Business Messaging cannot reach the number right now, e.g. the device is off or RCS is "
        "disabled on it.",
        "Retry later or fall back to SMS.",
    ),
    (
        63037,
        W,
        ("whatsapp", "media"),
        "Media upload to channel failed",
        "Uploading media to the channel provider failed; Twilio retries on its own.",
        "Nothing to do unless the message ends up failing.",
    ),
    (
        63038,
        E,
        ("whatsapp", "account"),
        "Daily message limit exceeded",
        "The account or sender reached its cap of messages per 24 hours.",
        "Wait for the limit to reset or ask support to raise it; on WhatsApp, good quality ratings lift "
        "the messaging tier.",
    ),
    (
        63039,
        E,
        ("messenger",),
        "Messenger: messages seen as abusive",
        "Facebook regards messages from your Page outside the 24-hour window as bothersome or abusive.",
        "Cut the rate of out-of-window messages at once and tone down their content to avoid "
        "restrictions on the Page.",
    ),
    (
        63040,
        E,
        ("whatsapp", "template"),
        "Template rejected",
        "WhatsApp rejected the matching template or it failed to submit, commonly for vague wording, "
        "gaps in placeholder numbering, placeholders side by side, or policy issues.",
        "Fix the wording and placeholders and submit a new template.",
    ),
    (
        63041,
        E,
        ("whatsapp", "template"),
        "Template paused",
        "WhatsApp paused the template for a while after repeated negative feedback (reports, blocks) "
        "from recipients.",
        "Switch to another template, or edit this one and resubmit it.",
    ),
    (
        63042,
        E,
        ("whatsapp", "template"),
        "Template disabled",
        "WhatsApp disabled the template for good after persistent negative feedback.",
        "Create a different template and get it approved.",
    ),
    (
        63043,
        E,
        ("whatsapp", "template", "media"),
        "Template sample media: 403",
        "The sample media link given with the template demands authorisation, so it answered 403.",
        "Host the sample file publicly, or put an access token in its URL.",
    ),
    (
        63044,
        E,
        ("whatsapp", "template", "media"),
        "Template sample media: 404",
        "The sample media link answered 404: the file is gone or the URL is wrong.",
        "Correct the URL so it points at the file.",
    ),
    (
        63045,
        E,
        ("whatsapp", "template", "media"),
        "Template sample media fetch error",
        "The host of the sample media link answered with an unexpected error status.",
        "Open the link in a browser to confirm it works, and fix the host if it does not.",
    ),
    (
        63046,
        W,
        ("whatsapp", "template"),
        "Template approved",
        "Informational: WhatsApp approved the template.",
        "None; the template is ready to use.",
    ),
    (
        63047,
        E,
        ("whatsapp", "template", "media"),
        "Template sample media: bad type",
        "The server hosting the sample media sent no Content-Type or an unsupported one, so the template "
        "was not created.",
        "Have the host label the file as a JPEG, PNG, PDF or MP4 type, then create the template again.",
    ),
    (
        63049,
        E,
        ("whatsapp", "template"),
        "Meta declined marketing message",
        "Meta chose not to deliver a marketing template to this user, usually because of its per-user "
        "limits on marketing messages. Newer than Twilio's May 2023 dictionary snapshot.",
        "Do not resend at once; space out marketing sends, favour engaged users, and use utility "
        "templates for transactional content.",
    ),
    (
        63051,
        E,
        ("whatsapp", "account"),
        "WhatsApp Business Account locked",
        "WhatsApp locked the business account that owns this sender for breaching WhatsApp's terms or "
        "its commerce rules.",
        "If you believe it is a mistake, open a Twilio support ticket so Twilio can appeal to WhatsApp "
        "for you.",
    ),
]

# Facts about Twilio's dictionary (May 2023 snapshot) recorded with the data, so the app and its
# tests can tell "absent from Twilio's list" apart from "we forgot it".
GAPS: dict[str, Any] = {
    "reference": "twilio-error-codes.json snapshot of May 2023 (1953 entries)",
    "30001-30035": {"absent_from_reference": [], "note": "every code in the range exists"},
    "63001-63051": {
        "absent_from_reference": [63004, 63048, 63049, 63050],
        "added_anyway": [63049],
        "note": "63049 is newer than the snapshot (see TWILIO-FACTS.md section 5); the other three are "
        "not defined in the snapshot and are left out",
    },
}


def build() -> dict[str, Any]:
    """Return the catalogue document; fail loudly on duplicates, long titles or empty text."""
    rows = WEBHOOK + API + DELIVERY + CHANNELS
    seen: set[int] = set()
    entries = []
    for code, level, tags, title, cause, action in sorted(rows, key=lambda r: r[0]):
        if code in seen:
            raise ValueError(f"duplicate code {code}")
        seen.add(code)
        if len(title) > 40 or not (title and cause and action and tags):
            raise ValueError(f"bad row for {code}")
        entries.append(
            {
                "code": code,
                "title": title,
                "cause": cause,
                "action": action,
                "tags": list(tags),
                "log_level": level,
                "url": URL_TEMPLATE.format(code=code),
            }
        )
    return {
        "schema_version": 1,
        "about": "Twilio error codes met in messaging, explained for operators in this project's own "
        "words. Twilio's page for each code is in 'url'.",
        "gaps": GAPS,
        "entries": entries,
    }


def main() -> None:
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(build(), indent=1, ensure_ascii=False) + "\n"
    OUTPUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUTPUT} ({len(build()['entries'])} entries)")


if __name__ == "__main__":
    main()
