"""The district portal (SPEC S6-S8): district IT administrators see their sync runs and steer them.

Server-rendered HTML (Jinja2 with autoescape) behind ``functions/portal/app.py``, no JavaScript.
One module per job: ``settings`` (environment and secrets), ``session`` (signed cookies and CSRF),
``stafflink`` (signed staff links), ``auth`` (the ClassLink sign-in for administrators),
``backend`` (the store, the report bucket and the sync queue), ``reportstream`` and ``csvexport``
(issues read and written as streams), ``views`` (pure page data), ``review`` (approve, discard and
the readiness dry run), ``render`` (templates and the security headers) and ``service`` (one method
per route). See docs/portal.md.
"""
