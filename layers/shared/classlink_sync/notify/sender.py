"""R19: emails go out through Amazon SES (the sesv2 ``SendEmail`` API), one per recipient, from
``NOTIFY_FROM``, on the process's botocore session (``classlink_sync.aws``) and its
``AWS_ENDPOINT_URL`` (moto locally). The function's IAM policy allows ``ses:SendEmail`` on that
identity only (template.yaml)."""

from __future__ import annotations

from typing import Any, Protocol

from classlink_sync import aws
from classlink_sync.notify.decide import Email
from classlink_sync.notify.settings import NotifySettings
from classlink_sync.settings import AppSettings


class Sender(Protocol):
    def __call__(self, email: Email, /) -> str:
        """Send one email; return the provider's message id (raises on failure)."""
        ...


def ses_sender(notify: NotifySettings, app: AppSettings) -> Sender:
    """A ``Sender`` over SES for these settings (``notify.notify_from`` must be set)."""
    source = notify.notify_from
    if source is None:
        raise ValueError("NOTIFY_FROM is not set")
    client = aws.client("sesv2", app)

    def send(email: Email) -> str:
        request: dict[str, Any] = {
            "FromEmailAddress": source,
            "Destination": {"ToAddresses": [email.to]},
            "Content": {
                "Simple": {
                    "Subject": {"Data": email.subject, "Charset": "UTF-8"},
                    "Body": {
                        "Text": {"Data": email.text, "Charset": "UTF-8"},
                        "Html": {"Data": email.html, "Charset": "UTF-8"},
                    },
                }
            },
        }
        if notify.ses_configuration_set:
            request["ConfigurationSetName"] = notify.ses_configuration_set
        return str(client.send_email(**request).get("MessageId", ""))

    return send
