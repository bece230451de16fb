"""Maintained de-identification libraries, wrapped as scrubbers for the benchmark (bench helper).

Each ``make_*`` returns ``(label, scrub)`` with ``scrub(text) -> text``, or None when the library is
not installed (they are not dependencies of the app; install them beside it to compare:
``pip install philter-lite==0.6.0 presidio-analyzer==2.2.366 presidio-anonymizer==2.2.366``).

- philter-lite (the UCSF Philter fork that smart-on-fhir/cumulus-etl uses) with its default
  configuration (philter_delta.toml). Its name filters need NLTK's part-of-speech tagger, whose
  data NLTK downloads from GitHub at run time; where that data is missing, a stand-in tagger marks
  capitalised words as proper nouns (NNP) and numbers as CD, and the label says so.
- Microsoft Presidio (analyzer + anonymizer). Its names, places and organisations come from a
  spaCy model (``en_core_web_lg``) distributed outside PyPI; where none is installed, a blank
  English spaCy pipeline is used, so only Presidio's pattern recognizers run, and the label says so.
"""
from __future__ import annotations

import os
import re
import tempfile


def make_philter():
    """philter-lite with its default filters, or None when it is not installed."""
    try:
        import nltk
        import philter_lite
        from philter_lite import philter as core
    except ImportError:
        return None
    label = "philter-lite " + philter_lite.__version__
    try:
        nltk.data.find("taggers/averaged_perceptron_tagger_eng")
    except LookupError:
        core.nltk.pos_tag = _stand_in_tagger
        label += " (stand-in POS tagger: NLTK data not downloadable)"
    filters = philter_lite.load_filters(os.path.join(os.path.dirname(philter_lite.__file__), "configs",
                                                     "philter_delta.toml"))

    def scrub(text: str) -> str:
        include, _, _ = philter_lite.detect_phi(text, filters)
        return philter_lite.transform_text_asterisk(text, include)

    return label, scrub


def _stand_in_tagger(tokens):
    return [(t, "CD" if re.fullmatch(r"[\d.,/:-]+", t) else "NNP" if t[:1].isupper() else "NN") for t in tokens]


def make_presidio():
    """Presidio's analyzer and anonymizer, or None when they are not installed."""
    try:
        import spacy
        from presidio_analyzer import AnalyzerEngine
        from presidio_analyzer.nlp_engine import NlpEngineProvider
        from presidio_anonymizer import AnonymizerEngine
    except ImportError:
        return None
    from importlib.metadata import version

    label = "presidio " + version("presidio-analyzer")
    try:
        spacy.load("en_core_web_lg")
        model = "en_core_web_lg"
    except OSError:
        model = os.path.join(tempfile.mkdtemp(prefix="presidio-blank-"), "en_blank")
        spacy.blank("en").to_disk(model)
        label += " (patterns only: no spaCy model installable)"
    provider = NlpEngineProvider(nlp_configuration={"nlp_engine_name": "spacy",
                                                    "models": [{"lang_code": "en", "model_name": model}]})
    analyzer = AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=["en"])
    anonymizer = AnonymizerEngine()

    def scrub(text: str) -> str:
        found = analyzer.analyze(text=text, language="en")
        return anonymizer.anonymize(text=text, analyzer_results=found).text

    return label, scrub
