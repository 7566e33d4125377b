"""Civil-registration events: births, deaths and marriages recorded once, told to each body the policy allows.

``recording`` (the registration service records; each subscriber's disclosure is
decided and audited in the same transaction), ``subscriptions`` (webhook or pull
feed, under an agreement), ``disclosure`` (what leaves the hub: ``minimise``, and the pull feed),
``delivery`` and ``signing`` (signed webhooks from the outbox), ``addresses`` (where webhooks may go), ``retention``
(events kept only to deliver them), and ``service``, the entry points every face calls.

Public names load their modules when first used, so registering the purpose costs
``accord --help`` nothing.
"""

from accord.lazy import exports

__all__, __getattr__ = exports(__name__, {
    "KINDS": "kinds", "PURPOSE": "kinds", "EventKind": "kinds",
    "NewEvent": "recording", "record_events": "recording", "recorded_view": "recording", "Recorded": "recording",
    "minimise": "disclosure",
    "check_webhook_url": "addresses", "PinnedTransport": "addresses", "create_subscription": "subscriptions", "get_subscription": "subscriptions",
    "list_subscriptions": "subscriptions", "health": "subscriptions", "subscription_view": "subscriptions",
    "Dispatcher": "delivery", "DeliveryWorker": "delivery", "DeliveryPolicy": "delivery",
    "signing_secret": "signing", "signature": "signing", "verify_signature": "signing", "SIGNATURE_HEADER": "signing",
    "purge_events": "retention",
    "record": "service", "subscribe": "service", "SubscriptionSpec": "service", "change": "service", "end": "service",
    "replay": "service", "requeue": "service", "feed": "service", "subscription_views": "service",
    "subscription_detail": "service", "dead_letters": "service", "purge": "service",
})
