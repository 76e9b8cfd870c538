"""The staff portal: one login, multi-point query (一点登陆、多点查询).

A server-rendered FastAPI app over the warehouse's read path. Portal state (users,
sessions, login attempts, the audit log) lives in its own SQLite file, never in the
warehouse (docs/decisions/0010-portal.md).
"""
