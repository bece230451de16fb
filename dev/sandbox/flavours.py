"""How each kind of EHR behaves: the differences between the Epic- and Cerner-like tenants as data."""
from __future__ import annotations

from dataclasses import dataclass, field

EPIC_OUTCOME_SYSTEM = "urn:oid:1.2.840.114350.1.13.0.1.7.2.657369"


@dataclass(frozen=True)
class Flavour:
    """Behaviour switches of one EHR flavour."""

    name: str
    access_token_lifetime: int
    rotate_refresh_token: bool
    need_patient_banner: object
    observation_needs_category: bool
    search_outcomes: bool
    binary_wildcard_is_raw: bool
    inline_note_data: bool
    counts: dict[str, tuple[int, int]]
    style: dict = field(default_factory=dict)
    v1_system_scopes_only: bool = False  # Oracle Health grants v1 system scopes (ehr-facts §2.2)

    def page_size(self, resource_type: str, requested: str | None) -> int:
        """Return the page size for a search: the requested ``_count`` clamped to this flavour's limits."""
        default, maximum = self.counts.get(resource_type, self.counts["*"])
        if requested is None or not requested.isdigit() or int(requested) < 1:
            return default
        return min(int(requested), maximum)


FLAVOURS: dict[str, Flavour] = {
    "epic": Flavour(
        name="epic",
        access_token_lifetime=3600,
        rotate_refresh_token=True,
        # The Epic sandbox sends a string here, not a boolean (ehr-facts §1.7).
        need_patient_banner="false",
        observation_needs_category=True,
        search_outcomes=True,
        binary_wildcard_is_raw=True,
        inline_note_data=False,
        counts={"*": (50, 100)},
        style={
            "color_background": "#f4f6f8",
            "color_text": "#1b1b1b",
            "color_highlight": "#b31b1b",
            "color_error": "#a80000",
            "color_success": "#2e7d32",
            "color_modal_backdrop": "rgba(0,0,0,0.4)",
            "dim_border_radius": "2px",
            "dim_font_size": "13px",
            "dim_spacing_size": "16px",
            "font_family_body": "Segoe UI, Arial, sans-serif",
            "font_family_heading": "Segoe UI, Arial, sans-serif",
        },
    ),
    "cerner": Flavour(
        name="cerner",
        v1_system_scopes_only=True,
        access_token_lifetime=570,
        rotate_refresh_token=False,
        need_patient_banner=True,
        observation_needs_category=False,
        search_outcomes=False,
        binary_wildcard_is_raw=False,
        inline_note_data=True,
        counts={"*": (50, 100), "Observation": (50, 200), "DocumentReference": (10, 100),
                "DiagnosticReport": (10, 100)},
        style={
            "color_background": "#ffffff",
            "color_text": "#212121",
            "color_highlight": "#0065a3",
            "color_error": "#c62828",
            "color_success": "#2e7d32",
            "color_modal_backdrop": "rgba(0,0,0,0.5)",
            "dim_border_radius": "4px",
            "dim_font_size": "14px",
            "dim_spacing_size": "20px",
            "font_family_body": "Helvetica Neue, Helvetica, Arial, sans-serif",
            "font_family_heading": "Helvetica Neue, Helvetica, Arial, sans-serif",
        },
    ),
}


@dataclass(frozen=True)
class Tenant:
    """One registered EHR: a name, a flavour and the URLs derived from the sandbox base."""

    name: str
    flavour: Flavour
    base_url: str

    @property
    def root(self) -> str:
        """``{BASE}/{tenant}``."""
        return f"{self.base_url}/{self.name}"

    @property
    def fhir_base(self) -> str:
        """The FHIR base (``iss``/``aud``)."""
        return f"{self.root}/fhir"

    @property
    def issuer(self) -> str:
        """The OpenID Connect issuer."""
        return f"{self.root}/oauth2"

    @property
    def authorize_url(self) -> str:
        """The authorization endpoint."""
        return f"{self.issuer}/authorize"

    @property
    def token_url(self) -> str:
        """The token endpoint; also the ``aud`` of client assertions."""
        return f"{self.issuer}/token"

    @property
    def jwks_url(self) -> str:
        """Where the id_token signing key is published."""
        return f"{self.issuer}/jwks"

    @property
    def style_url(self) -> str:
        """The ``smart_style_url`` handed out in token responses."""
        return f"{self.root}/style.json"
