"""Recordings: real (or generated) OPSCOM traffic as JSON lines, for replay.

A recording is a text file of JSON lines, zstd-compressed when its name ends in
``.zst``. The first line is a header; each further line is one call, in the order
the calls started::

    {"format":"opscom-recording","version":1,"source":"record","started":"2026-11-23T08:00:00.000000Z",
     "client":"OC_TOMA","redaction":{"credentials":"placeholder","personal":"masked"},"origin":"http://127.0.0.1:8080"}
    {"t_us":0,"endpoint":"permit_push","method":"POST","path":"/api/OC_TOMA/v1/permits/push",
     "headers":[["content-type","application/json"]],
     "body":{"apiToken":"<token>","plate":"ABC1234","startTime":"2026-11-23T08:00:00","endTime":"2026-11-23T10:00:00"},
     "answer":{"status":200,"outcome":"ok","ids":{"reference_id":"6f1c...","InternalReferenceID":"6f1c..."},"latency_us":2150}}
    {"t_us":1520000,"endpoint":"permit_update","method":"POST","path":"/api/OC_TOMA/v1/permits/update",
     "body":{"apiToken":"<token>","referenceid":"6f1c...","endTime":"2026-11-23T11:00:00"},
     "answer":{"status":200,"outcome":"ok","ids":{"reference_id":"6f1c..."},"latency_us":1870},
     "uses":["6f1c..."],"chain":0}

Modules: ``format`` (a line both ways, the header, the OPSCOM path matcher),
``files`` (the streaming writer and reader), ``redact`` (what may never be written,
and the personal-data profile), ``correlate`` (``uses`` and ``chain``), ``names``
(request names of non-OPSCOM calls), ``proxy`` (``harness record``), ``har`` and
``gor`` (importers), ``generate`` (synthetic recordings).
"""

from harness.recording.files import Capture, RecordingWriter, read_calls, read_header, scan
from harness.recording.format import Header, RecordedCall
from harness.recording.redact import Redactor

__all__ = ["Capture", "Header", "RecordedCall", "RecordingWriter", "Redactor", "read_calls", "read_header", "scan"]
