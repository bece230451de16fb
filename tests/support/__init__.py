"""Helpers that more than one test module uses: plain functions, classes and data, no tests.

Fixtures live in the ``conftest.py`` files; a test module imports helpers from here (or from the
older helper modules beside it, such as ``tests/servers.py``), never from another test module or
a conftest (``tests/test_tests.py`` checks this).
"""
