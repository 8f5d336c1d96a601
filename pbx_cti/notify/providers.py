"""Providers: where a notification goes.  One call sends one message and says what became of it
(`SendResult`: accepted, permanent failure, temporary failure, undeliverable); the outbox
decides about retries, so a provider never retries by itself.

- `LocalOutboxProvider` — the embedded default: one JSON line per delivered message appended
  to `notify-delivered.jsonl` in the state directory (`tail -f` it), fsynced; a key already in
  the file is not written twice.
- `HttpAlimTalkProvider` — a Korean AlimTalk HTTP API, shaped like NHN Cloud's KakaoTalk
  Bizmessage API: `senderKey`, `templateCode`, `recipientList[{recipientNo, templateParameter,
  resendParameter}]`; the key in a header (X-Secret-Key) or as a bearer token; the idempotency
  key in its own header; plain SMS to `sms_url` as `{body, sendNo, recipientList[{recipientNo}]}`.
"""

from __future__ import annotations

import abc
import asyncio
import datetime
import json
import logging
import os
from pathlib import Path

import aiohttp

from .config_section import NotifySettings
from .model import Message, SendResult, masked

log = logging.getLogger("pribox.notify")

DELIVERED_FILE = "notify-delivered.jsonl"


class Provider(abc.ABC):
    name = "provider"

    @abc.abstractmethod
    async def send(self, message: Message, key: str) -> SendResult:
        """Send `message` as it goes out now (`message.channel`), with idempotency key `key`.
        Never raises for what the far end did: every outcome is a SendResult."""

    async def close(self) -> None:
        pass


class LocalOutboxProvider(Provider):
    name = "outbox"

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._keys: set[str] | None = None
        self._lock = asyncio.Lock()

    def _load_keys(self) -> set[str]:
        keys: set[str] = set()
        try:
            with open(self.path, encoding="utf-8") as f:
                for line in f:
                    try:
                        keys.add(json.loads(line)["idempotency_key"])
                    except (ValueError, KeyError, TypeError):
                        continue  # a line torn by a power cut: the message is resent, not lost
        except FileNotFoundError:
            pass
        return keys

    def _append(self, line: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())

    async def send(self, message: Message, key: str) -> SendResult:
        async with self._lock:
            try:
                if self._keys is None:
                    self._keys = await asyncio.to_thread(self._load_keys)
                if key in self._keys:
                    return SendResult.accepted(reason="already delivered under this idempotency key")
                text = message.text if message.channel == message.kind else message.fallback_text
                record = {"time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds"),
                          "id": message.id, "channel": message.channel, "to": message.to,
                          "template": message.template if message.channel == "alimtalk" else "",
                          "params": dict(message.params) if message.channel == "alimtalk" else {},
                          "text": text, "call_id": message.call_id, "agent": message.agent,
                          "idempotency_key": key}
                await asyncio.to_thread(self._append, json.dumps(record, ensure_ascii=False) + "\n")
            except OSError as exc:
                return SendResult.temporary(f"{self.path}: {exc.strerror or exc}")
            self._keys.add(key)
            return SendResult.accepted(reason=f"written to {self.path.name}")


class HttpAlimTalkProvider(Provider):
    name = "http"

    def __init__(self, settings: NotifySettings):
        self.settings = settings
        self._session: aiohttp.ClientSession | None = None

    def _headers(self, key: str) -> dict[str, str]:
        headers = {"Content-Type": "application/json;charset=UTF-8", self.settings.idempotency_header: key}
        if self.settings.auth == "secret-key":
            headers["X-Secret-Key"] = self.settings.app_key
        elif self.settings.auth == "bearer":
            headers["Authorization"] = f"Bearer {self.settings.app_key}"
        return headers

    def request_for(self, message: Message) -> tuple[str, dict]:
        """(url, JSON body) of what goes out now."""
        s = self.settings
        if message.channel == "alimtalk":
            recipient: dict = {"recipientNo": message.to, "templateParameter": dict(message.params)}
            if message.fallback_text and s.fallback_by == "provider":
                recipient["resendParameter"] = {
                    "isResend": True, "resendType": sms_type(message.fallback_text),
                    "resendContent": message.fallback_text, "resendSendNo": s.sender_number}
            return s.url, {"senderKey": s.sender_key, "templateCode": message.template, "recipientList": [recipient]}
        body = message.text if message.kind == "sms" else message.fallback_text
        return s.sms_url, {"body": body, "sendNo": s.sender_number, "recipientList": [{"recipientNo": message.to}]}

    async def send(self, message: Message, key: str) -> SendResult:
        url, body = self.request_for(message)
        if not url:
            return SendResult.permanent(f"no {'sms_url' if message.channel == 'sms' else 'url'} configured in [notify]")
        if self._session is None:
            timeout = aiohttp.ClientTimeout(total=self.settings.timeout)
            self._session = aiohttp.ClientSession(timeout=timeout)
        try:
            async with self._session.post(url, json=body, headers=self._headers(key)) as response:
                status = response.status
                raw = await response.read()
        except asyncio.TimeoutError:
            return SendResult.temporary(f"no answer within {self.settings.timeout:g} s")
        except aiohttp.ClientError as exc:
            return SendResult.temporary(f"{type(exc).__name__}: {exc}")
        return self.classify(status, raw, message)

    def classify(self, status: int, raw: bytes, message: Message) -> SendResult:
        if status in (408, 409, 425, 429) or status >= 500:
            return SendResult.temporary(f"HTTP {status}")
        try:
            answer = json.loads(raw.decode("utf-8")) if raw else None
        except (UnicodeDecodeError, ValueError):
            answer = None
        header = answer.get("header") if isinstance(answer, dict) else None
        if status >= 400:
            detail = f": {header.get('resultMessage')}" if isinstance(header, dict) and header.get("resultMessage") else ""
            return SendResult.permanent(f"HTTP {status}{detail}")
        if not isinstance(header, dict):
            # The status says it was taken; resending could deliver it twice.
            return SendResult.accepted(reason=f"HTTP {status} without a result header")
        code = str(header.get("resultCode", ""))
        text = str(header.get("resultMessage", ""))
        if header.get("isSuccessful") is False or code not in ("", "0"):
            return self._by_code(code, text)
        body = answer.get("message") if isinstance(answer.get("message"), dict) else {}
        request_id = str(body.get("requestId", ""))
        results = body.get("sendResults") or []
        if results and isinstance(results[0], dict):
            item_code = str(results[0].get("resultCode", "0"))
            if item_code != "0":
                return self._by_code(item_code, str(results[0].get("resultMessage", "")))
        return SendResult.accepted(request_id)

    def _by_code(self, code: str, text: str) -> SendResult:
        s = self.settings
        reason = f"result {code}" + (f" ({text})" if text else "")
        if code in s.duplicate_codes:
            return SendResult.accepted(reason=f"already accepted under this idempotency key: {reason}")
        if code in s.undeliverable_codes:
            return SendResult.undeliverable(reason)
        if code in s.temporary_codes:
            return SendResult.temporary(reason)
        return SendResult.permanent(reason)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def sms_type(text: str) -> str:
    """SMS for what fits in 90 bytes of the handsets' Korean encoding, LMS beyond."""
    return "SMS" if len(text.encode("cp949", errors="replace")) <= 90 else "LMS"


def provider_for(settings: NotifySettings, state_dir: str | os.PathLike) -> Provider:
    if settings.provider == "http":
        return HttpAlimTalkProvider(settings)
    return LocalOutboxProvider(Path(state_dir) / DELIVERED_FILE)


def describe_message(message: Message) -> str:
    what = message.template or "text"
    return f"{message.channel} {what} to {masked(message.to)}"
