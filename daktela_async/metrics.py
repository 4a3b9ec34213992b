"""Prometheus metrics and a health check of a watcher (``pip install prometheus-client``).

``prometheus-client`` comes with the ``cli`` extra (``pip install 'daktela-async[cli]'``).
:class:`WatcherMetrics` is a collector with a registry of its own; serve its
:meth:`~WatcherMetrics.exposition` as ``/metrics`` and its :meth:`~WatcherMetrics.health`
as ``/healthz``. The dashboard and ``daktela-async watch --metrics-port`` do; in an app of
your own::

    from prometheus_client import CONTENT_TYPE_LATEST
    from daktela_async.metrics import WatcherMetrics

    async with client.watch(users, stats=("queues",)) as watcher:
        metrics = WatcherMetrics(watcher)
        async with anyio.create_task_group() as tg:
            await tg.start(metrics.run)  # event lag, and when and why a source failed
            ...  # route /metrics to metrics.exposition(), /healthz to metrics.health()

The metrics and the health check are described in ``docs/guides/service.md``.
"""

from __future__ import annotations

from ._metrics import DEFAULT_LAG_BUCKETS, Health, MetricsFeed, WatcherMetrics

__all__ = ["DEFAULT_LAG_BUCKETS", "Health", "MetricsFeed", "WatcherMetrics"]
