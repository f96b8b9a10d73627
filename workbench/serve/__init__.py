"""`workbench serve`: the Voila apps behind login, role scopes and a signed viewer.

Security model, in order of a request:

1. **Login** (:mod:`workbench.serve.identity`): a jupyter_server ``IdentityProvider`` named on Voila's command line
   checks the users file (:mod:`workbench.privacy.users`: PBKDF2 hashes) through a plain login form and keeps a
   signed session cookie (HttpOnly, SameSite=Lax, ends with the browser, at most 12 h, or when the password
   changes or the user is removed). No token logs anybody in.
2. **Gate** (:mod:`workbench.serve.gate`), before Voila starts a kernel: only the role's apps, and every class,
   student (display code) and school in the URL inside the viewer's scope — otherwise the server's own 403 page.
   A cap on kernels in use answers 503 "try again". A kernel belongs to the first login that reaches it.
3. **Viewer hand-over**: the gate overwrites the request header ``X-Workbench-Viewer`` with the viewer signed by
   a secret made at each start (HMAC-SHA256); Voila passes it to the kernel as ``HTTP_X_WORKBENCH_VIEWER``
   (``http_header_envs``) with the query string, and the kernel verifies it with ``current_viewer()``.
4. **Hardening** (:mod:`workbench.serve.launch`): CSP and framing headers, a Voila template without CDN links,
   no files or sources served, tracebacks hidden, idle kernels culled, kernels on IPC sockets.

This package imports jupyter_server and tornado only in :mod:`workbench.serve.identity` (loaded by Voila).
"""
