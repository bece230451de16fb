"""FHIR R4 validation of the record's resources, fast: fhirclient's own rules, without its models.

``build.invalid_reason`` used to build a fhirclient model of every resource (``Observation(res,
strict=True)``) to learn whether it is valid FHIR R4. Building the model is what costs: per element
an object, ``elementProperties()`` rebuilt as a list of tuples, a FHIRDate per date. :func:`valid`
walks the plain JSON instead, against the same element tables (read once per class from the
fhirclient models), and applies the same strict rules, so it accepts exactly what the models
accept: every key an element the type defines (or ``_name`` of one, or ``resourceType``), a
JSON null read as absent, a value of the element's type (FHIR numbers as int or float, a bool
counting as a number as fhirclient counts it, of a primitive list only the first item checked as
fhirclient checks it), lists where and only where the element repeats, every nested element by
the same rules, dates by the FHIRDate classes themselves, and the required elements present (one
of a choice). It answers only "valid" or "cannot vouch": a resource it cannot vouch for (one that
is not valid, or that holds what it does not walk: a contained resource, nesting deeper than
``MAX_DEPTH``) goes to the fhirclient model as before, which gives the verdict and the reason.
Invalid resources are rare, so the models are built only where the answer is "left out", and
every verdict and every reason is the one the models give.

Measured on the same 106,096 resources (the five record types of ``radar rank``'s development
screening population, 588 records: the 297 Synthea general-population records plus 291 copies
carrying a development rare case's findings, ``tests/bench/population.build(…, 291)``), CPU seconds
of validation alone, one process on the 2-core development machine (shared with other work):

==========================================  =======  =========================================
candidate                                   seconds  what it checks
==========================================  =======  =========================================
fhirclient 4.4 models (before)                 13.3  everything, by the models' rules
fhir.resources 8.3 (pydantic 2, R4B models)    19.7  everything, by its rules (8.x has no R4)
lazy: models only for what the middle reads     8.9  72,527 resources (labs loinc2hpo maps,
                                                     every Condition, note, report, Patient)
hand-checked subset of the fields read          0.8  only what the middle and chart read
this module (fhirclient's tables)               1.0  everything, by the models' rules
==========================================  =======  =========================================

The subset is a fifth faster than walking everything by the tables, and it would keep a resource
malformed in an element nothing reads today (a ``meta`` of the wrong shape) that the models
reject: a weaker guarantee for 0.2 s in 100,000 resources. Lazy validation still builds models
for most resources, and the builder would need the knowledge to know which. What is skipped is
what the record leaves out on purpose whatever it holds (``build.passed_over``: Observations
that are not laboratory, or cancelled, or entered in error).
"""
from __future__ import annotations

from fhirclient.models import fhirabstractresource, fhirdate

MAX_DEPTH = 40  # FHIR data rarely nests past 10 levels; deeper goes to the models (and their reason)
_SPECS: dict[type, tuple] = {}
_DATES: dict[tuple[type, str], bool] = {}
_DATES_MAX = 200_000
_MODEL, _DATE, _PRIMITIVE, _OTHER = range(4)
_UNDEFINED = object()


def valid(resource: dict, model: type) -> bool:
    """True when ``resource`` is valid FHIR R4 by ``model``'s strict rules (a fhirclient resource
    class); False when it is not, or when this walk cannot say (the model then decides)."""
    try:
        return resource.get("resourceType") == model.resource_type and _element(resource, model, 0)
    except RecursionError:
        return False


def _spec(cls: type) -> tuple:
    """(element by JSON name, required groups) of a fhirclient class, read once. An element is
    (kind, class or the Python types a primitive may be, repeats); a bare choice name is None."""
    spec = _SPECS.get(cls)
    if spec is None:
        by_name, required = {}, {}
        for _, jsname, typ, is_list, of_many, not_optional in cls().elementProperties():
            if isinstance(typ, type) and issubclass(typ, fhirabstractresource.FHIRAbstractResource):
                by_name[jsname] = (_OTHER, typ, is_list)  # contained: the factory picks its class; the models check it
            elif isinstance(typ, type) and issubclass(typ, fhirdate.FHIRDate):
                by_name[jsname] = (_DATE, typ, is_list)
            elif hasattr(typ, "with_json_and_owner"):
                by_name[jsname] = (_MODEL, typ, is_list)
            elif typ in (int, float):
                by_name[jsname] = (_PRIMITIVE, (int, float), is_list)  # fhirclient takes either for both
            elif typ in (str, bool):
                by_name[jsname] = (_PRIMITIVE, typ, is_list)
            else:
                by_name[jsname] = (_OTHER, typ, is_list)
            if of_many is not None:
                by_name.setdefault(of_many, None)  # fhirclient accepts the bare choice name, unread
            if not_optional:
                required.setdefault(of_many or jsname, set()).add(jsname)
        spec = _SPECS[cls] = (by_name, tuple(frozenset(group) for group in required.values()))
    return spec


def _element(data: object, cls: type, depth: int) -> bool:
    if type(data) is not dict or depth > MAX_DEPTH:
        return False
    by_name, required = _SPECS.get(cls) or _spec(cls)
    for key, value in data.items():
        if value is None:
            if key in by_name or key == "resourceType":
                continue
            return False  # an undefined element, or a primitive's extensions that are null (the models say so)
        element = by_name.get(key, _UNDEFINED)
        if element is _UNDEFINED:
            if key == "resourceType":
                continue
            if key[:1] != "_" or by_name.get(key[1:]) is None or isinstance(value, (dict, list)):
                return False  # not an element here; or a primitive's extensions (``_name``), which the models judge
            continue
        if element is None:  # the bare name of a choice, unread by the models: only a plain value
            if isinstance(value, (dict, list)):
                return False
            continue
        kind, typ, is_list = element
        if is_list:
            if type(value) is not list:
                return False
            if not value:
                continue
            if kind == _MODEL:
                for item in value:
                    if not _element(item, typ, depth + 1):
                        return False
            elif kind == _PRIMITIVE:
                if not isinstance(value[0], typ) and value[0] is not None:
                    return False
            elif kind == _DATE:
                for item in value:
                    if not _date(item, typ):
                        return False
            else:
                return False
        elif kind == _MODEL:
            if not _element(value, typ, depth + 1):
                return False
        elif kind == _PRIMITIVE:
            if not isinstance(value, typ):
                return False
        elif kind != _DATE or not _date(value, typ):
            return False
    for group in required:
        for name in group:
            if data.get(name) is not None:
                break
        else:
            return False
    return True


def _date(value: object, typ: type) -> bool:
    if not isinstance(value, str):
        return False
    key = (typ, value)
    verdict = _DATES.get(key)
    if verdict is None:
        try:
            typ(value)
            verdict = True
        except (TypeError, ValueError):
            verdict = False
        if len(_DATES) >= _DATES_MAX:
            _DATES.clear()
        _DATES[key] = verdict
    return verdict

