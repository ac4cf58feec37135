"""/openapi.json documents the result.json document (cxrkit.result/1) and the error bodies."""

from fastapi.testclient import TestClient

from cxrkit.result_document import ResultDocument
from cxrkit.service.api import create_app
from cxrkit.service.settings import Settings


class _NoModels:
    classifier = None
    segmenter = None

    def describe(self) -> dict:
        return {}


def test_openapi_contains_the_analysis_result_schema():
    with TestClient(create_app(Settings(), analyzer=_NoModels())) as c:  # type: ignore[arg-type]
        spec = c.get("/openapi.json").json()
        health = c.get("/healthz").json()
    schemas = spec["components"]["schemas"]
    doc = schemas["ResultDocument"]
    assert set(doc["required"]) >= {"schema", "cxrkit_version", "disclaimer", "image", "quality", "findings",
                                    "measurements", "report", "model", "components"}
    assert doc["properties"]["schema"]["const"] == "cxrkit.result/1"
    assert set(doc["properties"]) == {f.alias or k for k, f in ResultDocument.model_fields.items()}
    finding = schemas["FindingDoc"]["properties"]
    assert (finding["probability"]["minimum"], finding["probability"]["maximum"]) == (0, 1)
    analyze = spec["paths"]["/v1/analyze"]["post"]["responses"]
    assert analyze["200"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ResultDocument"}
    assert {"400", "401", "413", "415", "422", "503"} <= set(analyze)
    assert spec["paths"]["/healthz"]["get"]["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/HealthDoc"}
    assert health == {"status": "ok", "version": spec["info"]["version"], "classifier": False, "segmenter": False}
