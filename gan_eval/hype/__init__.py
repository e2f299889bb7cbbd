"""HYPE human evaluation (Zhou et al., NeurIPS 2019): a local rating page and its report.

- :mod:`.session`: the seeded, balanced schedule of real and fake images, kept in the session
  directory so a restarted server resumes the same session; the HYPE_time staircase.
- :mod:`.store`: judgments in SQLite (``judgments.sqlite``), one transaction per answer.
- :mod:`.server`: the rating web page (standard library ``http.server``).
- :mod:`.report`: HYPE-infinity with a bootstrap confidence interval over raters and images.
"""
