"""The clinician's UI (htmx): the chart page, its RaDaR panel, the EHR's style, plain message pages."""
