"""Security side channels: the audit log (``audit``, ``writer``, ``chain``, ``verify``)
and the partition rows RBAC attaches to (``partitions_sync``).

Everything here sits above the backend and hangs off its signals; the backend
never imports it.  See docs/audit.md.
"""
