"""The case: turns a PatientRecord and its phenotype profile into the case narrative RaDaR reads.
:mod:`app.case.narrative` writes the narrative within a token budget, :mod:`app.case.deidentify`
removes what identifies the patient from the text that leaves the app, and :mod:`app.case.dates`
parses FHIR dates and says them relative to today ("3 years ago"). The package imports none of
its submodules, so that there is no import circle through it; callers import the one they need.
"""
