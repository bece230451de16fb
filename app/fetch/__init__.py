"""The doors' data: FHIR fetch (chart), CDS prefetch, Bundle files, note text, and the one record builder."""
