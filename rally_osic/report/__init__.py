"""The whitepaper reporter: Rally JSON to an HTML and PDF fault study.

Reading (:mod:`.loader`), per-run analysis and charts (:mod:`.runs`,
:mod:`.charts`), the document model (:mod:`.study`) and rendering
(:mod:`.render`) are separate so that the Rally exporter plugins and the
``rally-osic report`` command share everything but the input.
"""
