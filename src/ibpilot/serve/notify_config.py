"""Typed settings of alert delivery (`serve.notify`): channels, dedup window, timeouts, retries.

Built by the controller from `Settings`; the environment is never read here.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, field

from ibpilot.serve.notify_channels import Channel, discord, ntfy, telegram, webhook

TELEGRAM_API = "https://api.telegram.org"


class NotifyConfigError(ValueError):
    """Bad notification settings; the text names every problem (never a secret's value)."""


def _url_problem(name: str, url: str) -> str | None:
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return f"{name}: not a valid URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{name}: must be an http(s) URL with a host"
    return None


@dataclass(frozen=True)
class NotifyConfig:
    """Where alerts go and how hard to try. Secret fields (URLs embed tokens) are hidden from repr."""

    webhook_url: str | None = field(default=None, repr=False)
    telegram_bot_token: str | None = field(default=None, repr=False)
    telegram_chat_id: str | None = None
    telegram_api_base: str = TELEGRAM_API
    discord_webhook_url: str | None = field(default=None, repr=False)
    ntfy_url: str | None = field(default=None, repr=False)  # full topic URL (the topic name is a secret)
    ntfy_token: str | None = field(default=None, repr=False)
    dedup_window_s: float = 300.0
    timeout_s: float = 10.0
    max_attempts: int = 5
    backoff_s: float = 1.0  # first retry delay; doubles per attempt (1, 2, 4, 8, ...)
    backoff_max_s: float = 60.0
    retry_after_max_s: float = 300.0  # a server's Retry-After is honoured up to this
    queue_max: int = 100  # per channel; when full the oldest alert is dropped
    host: str = ""  # shown in texts and the webhook JSON; "" = this machine's host name

    def __post_init__(self) -> None:
        problems = [p for p in (
            self.webhook_url and _url_problem("ALERT_WEBHOOK_URL", self.webhook_url),
            self.discord_webhook_url and _url_problem("DISCORD_WEBHOOK_URL", self.discord_webhook_url),
            self.ntfy_url and _url_problem("NTFY_URL", self.ntfy_url),
            _url_problem("telegram_api_base", self.telegram_api_base),
        ) if p]
        if bool(self.telegram_bot_token) != bool(self.telegram_chat_id):
            problems.append("TELEGRAM_BOT_TOKEN and TELEGRAM_CHAT_ID: set both or neither")
        if self.telegram_bot_token and any(c in self.telegram_bot_token for c in "/?#@ \t\r\n"):
            problems.append("TELEGRAM_BOT_TOKEN: not a bot token (it contains a URL character)")
        if self.ntfy_token and not self.ntfy_url:
            problems.append("NTFY_TOKEN: set without NTFY_URL")
        if self.ntfy_token and any(c in self.ntfy_token for c in "\r\n"):
            problems.append("NTFY_TOKEN: contains a line break")
        for name, value, low in (("ALERT_DEDUP_WINDOW", self.dedup_window_s, 0.0), ("timeout_s", self.timeout_s, 0.001),
                                 ("max_attempts", self.max_attempts, 1), ("backoff_s", self.backoff_s, 0.0),
                                 ("backoff_max_s", self.backoff_max_s, 0.0),
                                 ("retry_after_max_s", self.retry_after_max_s, 0.0),
                                 ("queue_max", self.queue_max, 1)):
            if not value >= low:
                problems.append(f"{name}: must be >= {low} (got {value})")
        if problems:
            raise NotifyConfigError("notification settings: " + "; ".join(problems))

    @property
    def enabled(self) -> bool:
        """True when at least one channel is configured."""
        return bool(self.webhook_url or self.telegram_bot_token or self.discord_webhook_url or self.ntfy_url)

    def channels(self) -> list[Channel]:
        out = []
        if self.webhook_url:
            out.append(webhook(self.webhook_url))
        if self.telegram_bot_token and self.telegram_chat_id:
            out.append(telegram(self.telegram_api_base, self.telegram_bot_token, self.telegram_chat_id))
        if self.discord_webhook_url:
            out.append(discord(self.discord_webhook_url))
        if self.ntfy_url:
            out.append(ntfy(self.ntfy_url, self.ntfy_token))
        return out

    def secrets(self) -> list[str]:
        """Values to mask in logs (`ibpilot.logs.register_secret`): URLs, tokens and the URLs' paths."""
        vals = [self.webhook_url, self.telegram_bot_token, self.discord_webhook_url, self.ntfy_url, self.ntfy_token]
        out = [v for v in vals if v]
        for url in (self.webhook_url, self.discord_webhook_url, self.ntfy_url):
            if url:
                parts = urllib.parse.urlsplit(url)
                out += [p for p in (parts.path, parts.query) if len(p) >= 8]  # short ones: too many false hits
        return out
