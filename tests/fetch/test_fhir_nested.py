"""The chart's FHIR client against an answer nested past Python's parser (MockTransport: the EHR's
answer is the point, not the network): the section is "not available", never a crash."""
from __future__ import annotations

import httpx

from app.fetch.fhir import FhirClient, fetch_record

DEEP = b"[" * 100_000 + b"]" * 100_000


class Tokens:
    def get(self, rejected=None):
        return "t"


def test_a_deeply_nested_answer_is_an_unreadable_answer_not_a_crash():
    def handler(request):
        if request.url.path.endswith("/Patient/p"):
            return httpx.Response(200, json={"resourceType": "Patient", "id": "p"})
        if request.url.path.endswith("/Observation") or request.url.path.endswith("/Binary/b"):
            return httpx.Response(200, content=DEEP, headers={"content-type": "application/fhir+json"})
        if request.url.path.endswith("/DocumentReference"):
            note = {"resourceType": "DocumentReference", "id": "d", "status": "current",
                    "subject": {"reference": "Patient/p"},
                    "content": [{"attachment": {"contentType": "text/plain", "url": "Binary/b"}}]}
            return httpx.Response(200, json={"resourceType": "Bundle", "type": "searchset",
                                             "entry": [{"resource": note}]})
        return httpx.Response(200, json={"resourceType": "Bundle", "type": "searchset", "entry": []})

    client = FhirClient(httpx.Client(transport=httpx.MockTransport(handler)), "https://ehr.example/fhir", Tokens())
    record = fetch_record(client, "p")
    assert record.unavailable == {"labs": "the EHR sent an unreadable answer"}
    assert [(n.ref, n.error) for n in record.notes] == [("DocumentReference/d", "the EHR sent an unreadable answer")]
