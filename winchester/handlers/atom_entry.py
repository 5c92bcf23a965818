"""Which events the ``atompub`` handler posts, and their Atom entries.

Pure functions: they read event dicts and return text, with no I/O.
:func:`split_patterns` and :func:`type_matches` select events by type;
:func:`render_entry` builds an :class:`Entry`.

An entry (RFC 4287) is what the original StackTach posted::

    <atom:entry xmlns:atom="http://www.w3.org/2005/Atom">
      <atom:id>urn:uuid:MESSAGE_ID</atom:id>
      <atom:category term="compute.instance.exists.verified" />
      <atom:category term="original_message_id:ORIGINAL_ID" />
      <atom:title type="text">compute.instance.exists.verified</atom:title>
      <atom:content type="application/json">{...}</atom:content>
    </atom:entry>

(on one line). The documents are built with :mod:`xml.etree.ElementTree`,
so every value is escaped by the XML library (unlike the original, a ``<``,
``&`` or quote in a trait cannot break the document), and non-ASCII text is
kept as UTF-8. Characters XML 1.0 cannot hold at all (most control characters,
lone surrogates) are dropped. JSON content is the event with datetimes as oslo
strings (``2014-05-01 00:45:00.805827``), as notabene publishes it. CUF content
(``content_format: cuf_xml``) is an XML element, so it is embedded as one, as
RFC 4287 asks for XML media types.
"""

from __future__ import annotations

import fnmatch
import logging
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from notabene import codec
from stacktach.timeutils import parse_timestamp

__all__ = [
    "ATOM_NS",
    "CONTENT_FORMATS",
    "CUF_NOVA_NS",
    "CUF_NS",
    "Entry",
    "cuf_element",
    "cuf_license",
    "cuf_period",
    "cuf_status",
    "cuf_xml",
    "entry_xml",
    "json_content",
    "render_entry",
    "split_patterns",
    "type_matches",
]

LOG = logging.getLogger(__name__)

#: Values of the handler's ``content_format``.
CONTENT_FORMATS = ("json", "cuf_xml")

ATOM_NS = "http://www.w3.org/2005/Atom"
CUF_NS = "http://docs.rackspace.com/core/event"
CUF_NOVA_NS = "http://docs.rackspace.com/event/nova"

# Characters XML 1.0 cannot hold at all (even escaped), and lone surrogates.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

#: Nova ``state`` -> CUF status (``active`` and ``resized`` depend on the
#: ``state_description`` too, see :func:`cuf_status`).
STATUS_BY_STATE = {
    "building": "BUILD",
    "stopped": "SHUTOFF",
    "paused": "PAUSED",
    "suspended": "SUSPENDED",
    "rescued": "RESCUE",
    "error": "ERROR",
    "deleted": "DELETED",
    "soft-delete": "SOFT_DELETED",
    "shelved": "SHELVED",
    "shelved_offloaded": "SHELVED_OFFLOADED",
}
#: ``state_description`` of an ``active`` server -> CUF status (else ``ACTIVE``).
ACTIVE_STATUS_BY_TASK = {
    "rebooting": "REBOOT",
    "rebooting_hard": "HARD_REBOOT",
    "updating_password": "PASSWORD",
    "rebuilding": "REBUILD",
    "rebuild_block_device_mapping": "REBUILD",
    "rebuild_spawning": "REBUILD",
    "migrating": "MIGRATING",
    "resize_prep": "RESIZE",
    "resize_migrating": "RESIZE",
    "resize_migrated": "RESIZE",
    "resize_finish": "RESIZE",
}
UNKNOWN_STATUS = "UNKNOWN"


def xml_text(value: object) -> str:
    """``value`` as text XML can hold (``None`` is empty); escaping is the
    serializer's job."""
    text = "" if value is None else str(value)
    return _NOT_XML.sub("", text)


def entry_element(
    *,
    message_id: str,
    event_type: str,
    content: str | ET.Element,
    content_type: str,
    title: str | None = None,
    categories: Iterable[str] = (),
    original_message_id: object = None,
) -> ET.Element:
    """The ``<atom:entry>`` element for one event (see :func:`entry_xml`)."""
    terms = [*categories, event_type]
    if original_message_id is not None:
        terms.append(f"original_message_id:{original_message_id}")
    entry = ET.Element("atom:entry", {"xmlns:atom": ATOM_NS})
    ET.SubElement(entry, "atom:id").text = f"urn:uuid:{xml_text(message_id)}"
    for term in terms:
        ET.SubElement(entry, "atom:category", {"term": xml_text(term)})
    ET.SubElement(entry, "atom:title", {"type": "text"}).text = xml_text(
        event_type if title is None else title
    )
    body = ET.SubElement(entry, "atom:content", {"type": xml_text(content_type)})
    if isinstance(content, ET.Element):
        body.append(content)
    else:
        body.text = xml_text(content)
    return entry


def entry_xml(
    *,
    message_id: str,
    event_type: str,
    content: str | ET.Element,
    content_type: str,
    title: str | None = None,
    categories: Iterable[str] = (),
    original_message_id: object = None,
) -> str:
    """Return the ``<atom:entry>`` document for one event.

    The id is ``urn:uuid:<message_id>``; the categories are ``categories``, then
    ``event_type``, then ``original_message_id:<id>`` when one is given; the title
    defaults to ``event_type``. ``content`` is text (escaped) or an element
    (embedded, such as :func:`cuf_element`).
    """
    return ET.tostring(
        entry_element(
            message_id=message_id,
            event_type=event_type,
            content=content,
            content_type=content_type,
            title=title,
            categories=categories,
            original_message_id=original_message_id,
        ),
        encoding="unicode",
    )


def json_content(event: Mapping[str, Any]) -> str:
    """The event as JSON text; raises :class:`TypeError` for values JSON cannot hold."""
    return codec.encode(dict(event)).decode("utf-8")


def cuf_status(state: object, description: object) -> str:
    """The CUF status of a server from Nova's ``state`` and ``state_description``.

    Unknown combinations give ``UNKNOWN`` (the caller logs them).
    """
    if state == "active":
        return ACTIVE_STATUS_BY_TASK.get(str(description), "ACTIVE")
    if state == "resized":
        return "REVERT_RESIZE" if description == "resize_reverting" else "VERIFY_RESIZE"
    return STATUS_BY_STATE.get(str(state), UNKNOWN_STATUS)


def cuf_license(rax_options: object) -> tuple[str, str | None]:
    """``(osLicenseType, applicationLicense or None)`` from the ``rax_options`` bits.

    Bit 0 RHEL, bit 2 WINDOWS, bit 6 VYATTA (last one set wins; none: LINUX);
    bit 3 MSSQL, bit 5 MSSQL_WEB. Raises :class:`ValueError` when ``rax_options``
    is not an integer (or a string of one); ``None`` and ``""`` mean 0.
    """
    if rax_options is None:
        rax_options = 0
    if isinstance(rax_options, bool) or not isinstance(rax_options, int | str):
        raise ValueError(f"rax_options must be an integer, got {rax_options!r}")
    try:
        options = int(rax_options or 0)
    except ValueError:
        raise ValueError(
            f"rax_options must be an integer, got {rax_options!r}"
        ) from None
    os_license = "LINUX"
    for bit, name in ((0, "RHEL"), (2, "WINDOWS"), (6, "VYATTA")):
        if options & (1 << bit):
            os_license = name
    application = None
    for bit, name in ((3, "MSSQL"), (5, "MSSQL_WEB")):
        if options & (1 << bit):
            application = name
    return os_license, application


def _when(event: Mapping[str, Any], key: str) -> datetime | None:
    value = event.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        return parse_timestamp(value)
    raise ValueError(f"{key} must be a datetime, got {value!r}")


def cuf_period(event: Mapping[str, Any]) -> tuple[datetime | None, datetime | None]:
    """The usage period ``(start, end)`` of an ``.exists``-like event.

    Start: the later of ``launched_at`` and ``audit_period_beginning``. End: the
    earlier of ``terminated_at`` (else ``deleted_at``) and
    ``audit_period_ending``. A start after the end falls back to the beginning of
    the audit period. Missing values are skipped; strings are parsed.
    """
    beginning = _when(event, "audit_period_beginning")
    ending = _when(event, "audit_period_ending")
    launched = _when(event, "launched_at")
    terminated = _when(event, "terminated_at") or _when(event, "deleted_at")
    starts = [t for t in (launched, beginning) if t is not None]
    ends = [t for t in (terminated, ending) if t is not None]
    start = max(starts) if starts else None
    end = min(ends) if ends else None
    if start is not None and end is not None and start > end:
        start = beginning
    return start, end


def _cuf_time(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def cuf_element(event: Mapping[str, Any], extra_info: Mapping[str, Any]) -> ET.Element:
    """The Rackspace CUF usage ``<event>`` element for a server usage event.

    Attributes come from the event's traits, overridden by ``extra_info`` (where
    ``data_center`` and ``region`` are usually set); missing ones are empty.
    Raises :class:`ValueError` for unparsable times or ``rax_options``.
    """
    values: dict[str, Any] = {**event, **extra_info}
    start, end = cuf_period(event)
    os_license, application = cuf_license(event.get("rax_options", 0))

    def attr(key: str) -> str:
        return xml_text(values.get(key))

    root = ET.Element(
        "event",
        {
            "xmlns": CUF_NS,
            "xmlns:nova": CUF_NOVA_NS,
            "version": "1",
            "id": attr("message_id"),
            "resourceId": attr("instance_id"),
            "resourceName": attr("display_name"),
            "dataCenter": attr("data_center"),
            "region": attr("region"),
            "tenantId": attr("tenant_id"),
            "startTime": _cuf_time(start),
            "endTime": _cuf_time(end),
            "type": "USAGE",
        },
    )
    product = {
        "version": "1",
        "serviceCode": "CloudServersOpenStack",
        "resourceType": "SERVER",
        "flavorId": attr("instance_flavor_id"),
        "flavorName": attr("instance_flavor"),
        "status": cuf_status(event.get("state"), event.get("state_description")),
        "osLicenseType": os_license,
    }
    if application is not None:
        product["applicationLicense"] = application
    product["bandwidthIn"] = attr("bandwidth_in")
    product["bandwidthOut"] = attr("bandwidth_out")
    ET.SubElement(root, "nova:product", product)
    return root


def cuf_xml(event: Mapping[str, Any], extra_info: Mapping[str, Any]) -> str:
    """:func:`cuf_element` as text, in the original's form (``<... />`` as ``/>``,
    safe because the serializer escapes every ``>`` in values)."""
    text = ET.tostring(cuf_element(event, extra_info), encoding="unicode")
    return text.replace(" />", "/>")


@dataclass(frozen=True, slots=True)
class Entry:
    """One Atom entry to POST: the event's ids and the XML document."""

    message_id: str
    event_type: str
    document: bytes


def split_patterns(patterns: Iterable[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``(included, excluded)`` globs from ``event_types`` (``!`` excludes).

    With no inclusion at all, every type is included (``*``).
    """
    patterns = tuple(patterns)
    excluded = tuple(p[1:] for p in patterns if p.startswith("!"))
    included = tuple(p for p in patterns if not p.startswith("!")) or ("*",)
    return included, excluded


def type_matches(
    event_type: str, included: Iterable[str], excluded: Iterable[str]
) -> bool:
    """True if ``event_type`` matches an included glob and no excluded one."""
    return any(fnmatch.fnmatchcase(event_type, p) for p in included) and not any(
        fnmatch.fnmatchcase(event_type, p) for p in excluded
    )


def render_entry(
    event: Mapping[str, Any],
    *,
    content_format: str = "json",
    extra_info: Mapping[str, Any] | None = None,
    title: str | None = None,
    categories: Iterable[str] = (),
) -> Entry:
    """The :class:`Entry` of ``event`` in ``content_format`` (``json``/``cuf_xml``).

    ``cuf_xml`` appends ``.cuf`` to the event type. Raises :class:`ValueError`
    when the event has no ``message_id`` or cannot be rendered.
    """
    message_id = event.get("message_id")
    event_type = str(event.get("event_type", ""))
    if not isinstance(message_id, str) or not message_id:
        raise ValueError(f"a {event_type} event has no message_id")
    try:
        if content_format == "cuf_xml":
            state, description = event.get("state"), event.get("state_description")
            if cuf_status(state, description) == UNKNOWN_STATUS:
                LOG.warning(
                    "unknown CUF status for event %s: state %s (%s)",
                    message_id,
                    state,
                    description,
                )
            content: str | ET.Element = cuf_element(event, extra_info or {})
            content_type = "application/xml"
            event_type += ".cuf"
        else:
            content = json_content(event)
            content_type = "application/json"
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"cannot render event {message_id} ({event_type}): {exc}"
        ) from exc
    document = entry_xml(
        message_id=message_id,
        event_type=event_type,
        content=content,
        content_type=content_type,
        title=title,
        categories=categories,
        original_message_id=event.get("original_message_id"),
    )
    return Entry(message_id, event_type, document.encode("utf-8"))
