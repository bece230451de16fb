"""Population screening: Bulk FHIR export → the one pipeline on Spark → a worklist.

The door for everyone rather than the chart someone opens: resources from NDJSON files (a Bulk
Data export, per-type files, or Bundles) are grouped by patient (``sources``), each patient's
record goes through the same builder and the same middle as the chart (``worklist``), on Apache
Spark (``spark``), and ``run`` writes the worklist, the report and the hand-off to the chart.
"""
