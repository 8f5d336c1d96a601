"""SMS and KakaoTalk AlimTalk notifications: a persistent outbox, providers, and the notifier
the agent API and the IVR hand requests to (see README.md)."""

from .model import (KINDS, Message, MessageState, MessageStatus, NotifyInputError, Outcome, SendResult,
                    UnknownMessage)
from .notifier import NotificationEvent, NotificationFailed, NotificationQueued, NotificationSent, Notifier

__all__ = ["KINDS", "Message", "MessageState", "MessageStatus", "NotifyInputError", "Outcome", "SendResult",
           "UnknownMessage", "NotificationEvent", "NotificationFailed", "NotificationQueued", "NotificationSent",
           "Notifier"]
