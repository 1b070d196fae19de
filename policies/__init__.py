"""Jianfu's rules, pure: no telegram, sqlalchemy, apscheduler, bot or storage imports."""
