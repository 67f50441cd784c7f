"""Accounts: users, passwords, lockout, sessions, CSRF, 2FA, backup codes, login links, passkeys.

Pages and endpoints are registered by `mnwd.accounts.routes.setup_routes`.
"""
