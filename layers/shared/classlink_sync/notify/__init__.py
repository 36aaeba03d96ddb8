"""R19: the district hears about its sync, by email through Amazon SES (docs/notify.md).

- ``contacts``: the district's contact addresses, checked (pure);
- ``decide``: whether this run is news, and for whom (pure: this run's report, the runs before
  it, the district, now) -> a ``Notification`` or None;
- ``compose``: the email of a notification, and ``render``: its plain text and HTML (pure; every
  string escaped in the HTML);
- ``settings``: ``NOTIFY_FROM``, ``PORTAL_URL``, ``SES_CONFIGURATION_SET``;
- ``sender``: SES (sesv2 ``SendEmail``) on the process's botocore session;
- ``hook``: what ``sync.service.run_sync`` calls after the run record is finished: reads the
  history, decides, claims the day where a notice is once a day, sends; best effort, never raises.

Nothing heavy is imported here: ``store.districts`` imports ``contacts`` on every cold start.
"""
