"""Scenario: one HTTP request against a service, as a probe under faults."""

from __future__ import annotations

from rally.task import atomic, scenario


class UnexpectedStatus(Exception):
    """The service answered, but not with the expected status."""


@scenario.configure(name="OsicProbe.http")
class HttpProbe(scenario.Scenario):
    @atomic.action_timer("http.request")
    def run(
        self,
        url: str,
        method: str = "GET",
        expected_status: int = 200,
        timeout: float = 2.0,
    ) -> None:
        """Send one HTTP request on a new connection and check the status.

        Each iteration opens its own connection, so a restarted service is
        seen at once instead of through a pooled socket that went stale.
        Connection errors, timeouts and unexpected statuses fail the
        iteration. Run it with the ``rps`` runner so that the service keeps
        being sampled at a fixed rate while it is down.

        :param url: the URL to request, e.g. http://127.0.0.1:5000/v3
        :param method: HTTP method
        :param expected_status: the status that counts as success
        :param timeout: seconds to wait for connect and for the answer
        """
        import requests  # lazy: keep `rally` start-up fast

        response = requests.request(
            method,
            url,
            timeout=timeout,
            headers={"Connection": "close"},
        )
        if response.status_code != expected_status:
            raise UnexpectedStatus(
                f"{method} {url} answered {response.status_code}, "
                f"expected {expected_status}"
            )
