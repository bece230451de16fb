"""What phenotype extraction produces: HPO terms with status and provenance."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

PRESENT, ABSENT = "present", "absent"


@dataclass(frozen=True)
class Mention:
    """One HPO concept found in a text, with its character span and context flags."""

    hpo: str
    start: int
    end: int
    text: str
    negated: bool = False
    family: bool = False
    hypothetical: bool = False
    historical: bool = False


@dataclass
class Phenotype:
    """One patient phenotype: an HPO term, present or absent, and where it came from."""

    hpo: str
    label: str
    status: str  # PRESENT or ABSENT
    source: str  # FHIR reference, e.g. "Condition/123", "Observation/9", "DocumentReference/4"
    origin: str  # "condition", "lab", "note", "report", "clinician"
    evidence: str = ""  # the words or value that support it (shown to the clinician)
    span: tuple[int, int] | None = None  # character span in the source's clean text (notes, reports)
    context: tuple[str, str, str] | None = None  # text before, the match, text after (shown on click)
    also: list[str] = field(default_factory=list)  # further sources of the same term
    acute: bool = False  # a lab abnormality of one acute episode: shown, not weighed (phenotype.labs)
    diagnosis: bool = False  # the term is a rare diagnosis the problem list already names: shown, not weighed
    chance: float | None = None  # labs: how often an ordinary record with the same tests shows it (phenotype.labs)

    def to_dict(self) -> dict:
        """A JSON-ready copy."""
        d = asdict(self)
        d["span"] = list(self.span) if self.span else None
        d["context"] = list(self.context) if self.context else None
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Phenotype:
        """Rebuild from ``to_dict`` output."""
        d = dict(d)
        d["span"] = tuple(d["span"]) if d.get("span") else None
        d["context"] = tuple(d["context"]) if d.get("context") else None
        return cls(**d)
